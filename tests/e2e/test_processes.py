"""The programs as processes under spawn-fcgi + multiwatch: crashes, signals, log reopen."""

import os
import signal
import subprocess
import time

from conftest import SANITIZER_DIR, VAR, dev, gone, supervisor_pid, wait_until, workers


def test_each_program_runs_two_workers(api):
    for group in ("ready", "health"):
        assert len(workers(group)) == 2, group


def test_workers_leave_nothing_in_dev_shm(api):
    """The driver's counters stay in each process (MONGOC_DISABLE_SHM, set by the unit and the
    local stacks): a /dev/shm/mongoc-<pid> segment would outlive a killed worker and make a
    later process of the same pid warn, in plain text, at start."""
    for group in ("ready", "health", "auth", "orders"):
        for pid in workers(group):
            # The worker's own segment is mapped by it; a file of that name left hours before by
            # an older process of the same pid is not the worker's (it broke a fresh-clone run).
            with open("/proc/%d/maps" % pid) as f:
                assert "/dev/shm/mongoc-" not in f.read(), (group, pid)


def test_crashed_worker_is_restarted_and_service_continues(api):
    before = workers("health")
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: len(workers("health")) == 2 and before[0] not in workers("health"),
               timeout=10, what="multiwatch to replace the killed worker")
    for _ in range(10):
        assert api.get("/api/health").status_code == 200


def test_idle_worker_leaves_promptly_on_usr1(api):
    victim = workers("ready")[0]
    os.kill(victim, signal.SIGUSR1)
    wait_until(lambda: gone(victim), timeout=3, what="the idle worker to exit on SIGUSR1")
    wait_until(lambda: len(workers("ready")) == 2, timeout=10, what="a replacement worker")
    assert api.get("/api/ready").status_code == 200


def test_restart_stops_the_old_workers_without_force(api):
    old = [supervisor_pid("health")] + workers("health")
    out = dev("restart", "health")
    assert "did not stop" not in out.stderr, out.stderr
    for pid in old:
        assert gone(pid), pid
    assert api.get("/api/health").status_code == 200


def test_usr2_reopens_the_log_file(api):
    log = os.path.join(VAR, "log", "health.log")
    rotated = log + ".1"
    os.replace(log, rotated)
    try:
        # multiwatch forwards USR2 to every worker (what logrotate and ExecReload send). It does
        # so from its own event loop, after kill() here returns: a request sent at once can be
        # served (and logged to the old file) before a worker has the signal. So: a fresh id per
        # attempt until one reaches the new file (the forwarding is done then), and after that
        # every request's line in the new file and none in the old one.
        os.kill(supervisor_pid("health"), signal.SIGUSR2)

        def new_file_has_line():
            rid = "after-rotate-%d" % time.monotonic_ns()
            api.get("/api/health", headers={"X-Request-Id": rid})
            return os.path.exists(log) and rid in open(log).read()

        wait_until(new_file_has_line, timeout=10, what="a request line in the reopened log")
        rids = ["after-reopen-%d-%d" % (time.monotonic_ns(), i) for i in range(10)]
        for rid in rids:
            assert api.get("/api/health", headers={"X-Request-Id": rid}).status_code == 200
        with open(log) as f:
            new = f.read()
        with open(rotated) as f:
            old = f.read()
        for rid in rids:
            assert rid in new and rid not in old, rid
    finally:
        if os.path.exists(rotated):
            with open(rotated) as src, open(log, "a") as dst:
                dst.write(src.read())
            os.remove(rotated)


def test_usr1_lets_the_request_in_hand_finish(api, standin):
    """Graceful stop: a worker told to stop mid-request still answers it, then leaves."""
    import threading
    standin.fault("slow", delay_ms=1500)
    old = workers("ready")
    result = {}

    def call():
        result["r"] = api.get("/api/ready")

    t = threading.Thread(target=call)
    t.start()
    # Wait until the stand-in holds the Stripe call, i.e. a worker is mid-request.
    wait_until(lambda: standin.state()["requests"] >= 1, timeout=5, what="the request in hand")
    for pid in old:
        os.kill(pid, signal.SIGUSR1)
    t.join(timeout=15)
    r = result["r"]
    assert r.status_code == 200, r.text
    assert r.json()["ready"] is True
    for pid in old:
        wait_until(lambda: gone(pid), timeout=5, what="worker %d to exit" % pid)
    wait_until(lambda: len(workers("ready")) == 2, timeout=10, what="replacement workers")


if SANITIZER_DIR is not None:
    # Only in the sanitizer run of the suite: proves that a worker's report reaches the place
    # where every test looks (tests/e2e/conftest.py no_sanitizer_report), named after its program
    # and pid. The report this test provokes is removed once seen, so that it fails nothing else.
    def test_a_worker_crash_under_the_sanitizer_build_leaves_a_report(api):
        victim = workers("health")[0]
        report = os.path.join(SANITIZER_DIR, "lumira-health.%d" % victim)
        os.kill(victim, signal.SIGSEGV)
        wait_until(lambda: os.path.exists(report) and "AddressSanitizer: SEGV" in open(report).read(),
                   timeout=10, what="the sanitizer report of the crashed worker")
        os.remove(report)
        wait_until(lambda: len(workers("health")) == 2 and victim not in workers("health"),
                   timeout=10, what="multiwatch to replace the crashed worker")
        assert api.get("/api/health").status_code == 200


def test_workers_load_no_sasl_plugin(api):
    """Cyrus SASL's plugins (GSSAPI's, with libdb and Kerberos behind them) are not loaded when the
    URI does not ask for GSSAPI: Debian's libmongoc starts SASL in a constructor, before main, so
    the programs set its plugin path earlier still (LUMIRA_MONGO_SASL_EARLY, src/mongo.h)."""
    for group in ("ready", "health", "auth", "orders"):
        for pid in workers(group):
            with open("/proc/%d/maps" % pid) as f:
                plugins = [line.split()[-1] for line in f if "/sasl2/" in line]
            assert plugins == [], (group, pid, sorted(set(plugins)))


def test_sasl_plugins_loaded_for_gssapi_or_an_operator_path(api):
    """The same binary as a worker, run once as CGI (a 404, LD_DEBUG=files lists every object it
    loads): no plugin with the stack's URI; the plugins when the URI asks for GSSAPI, and when the
    operator sets SASL_PATH (their path wins)."""
    plugin_dir = "/usr/lib/x86_64-linux-gnu/sasl2"
    assert os.path.isdir(plugin_dir), "libsasl2-modules (libmongoc's dependency) is not installed"
    pid = workers("health")[0]
    exe = os.readlink("/proc/%d/exe" % pid)
    with open("/proc/%d/environ" % pid) as f:
        env = dict(v.split("=", 1) for v in f.read().split("\0") if "=" in v)

    def plugins_loaded(**extra):
        e = dict(env, LD_DEBUG="files", LOG_FILE="/dev/null", REQUEST_METHOD="GET",
                 DOCUMENT_URI="/api/no-such-route", REQUEST_URI="/api/no-such-route", **extra)
        r = subprocess.run([exe], env=e, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        assert r.stdout.startswith("Status: 404"), (extra, r.stdout[:200], r.stderr[-2000:])
        return sorted({line.split("file=")[1].split()[0] for line in r.stderr.splitlines()
                       if "file=" in line and "/sasl2/" in line})

    assert plugins_loaded() == []
    gssapi = "mongodb://lumira%40EXAMPLE.COM@127.0.0.1:1/lumira?authMechanism=GSSAPI&authSource=$external"
    # Whichever plugins the host has (libsasl2-modules; GSSAPI's own is a package more).
    assert plugins_loaded(MONGODB_URI=gssapi) != []
    assert plugins_loaded(SASL_PATH=plugin_dir) != []
