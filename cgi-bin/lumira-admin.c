/* lumira-admin: the operator's command line tool (API.md "Expert authentication": there is no
 * built-in account; the first admin is made here).
 *
 *   lumira-admin [--env-file FILE] create-expert --email E --name N [--role expert|admin]
 *   lumira-admin [--env-file FILE] set-active --email E --active true|false
 *
 * The password of create-expert is read from standard input (one line; asked twice without echo
 * on a terminal). Settings come from the environment; a variable missing there is read from the
 * environment file (LUMIRA_ENV_FILE, the one the services use), so `sudo lumira-admin ...` works
 * on an installed VM. Exit status follows sysexits.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "autoconfig.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "experts.h"
#include "json.h"
#include "log.h"
#include "str.h"
#include "valid.h"

#define PROG "lumira-admin"
#ifndef LUMIRA_ENV_FILE
#define LUMIRA_ENV_FILE "/etc/lumira/lumira.env"
#endif

/* sysexits.h */
#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_NOINPUT 66
#define EX_NOUSER 67
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_CANTCREAT 73

/* An environment file is small: a few dozen NAME=value lines. */
#define ENV_FILE_MAX (64 * 1024)
#define ENV_FILE_VARS 128

static char *env_file_data;
static const char *env_file_names[ENV_FILE_VARS];
static const char *env_file_values[ENV_FILE_VARS];
static size_t env_file_n;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--env-file FILE] create-expert --email E --name N"
            " [--role expert|admin]\n"
            "       " PROG " [--env-file FILE] set-active --email E --active true|false\n"
            "\n"
            "create-expert reads the password (6-128 characters) from standard input.\n"
            "Settings (MONGODB_URI) come from the environment, then from the environment file\n"
            "(default " LUMIRA_ENV_FILE ").\n");
}

/* Strips one pair of matching quotes around a value, as systemd's EnvironmentFile= does. */
static char *unquote(char *v)
{
    size_t n = strlen(v);

    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v[n - 1] = '\0';
        return v + 1;
    }
    return v;
}

/* Loads NAME=value lines of `path` (comments and blank lines skipped). Returns 0, or an exit
 * status after printing why. A missing default file is not an error. */
static int load_env_file(const char *path, bool explicit_path)
{
    FILE *f = fopen(path, "r");
    size_t len;
    char *line, *save = NULL;

    if (f == NULL) {
        if (!explicit_path && errno == ENOENT)
            return 0;
        fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(errno));
        return explicit_path ? EX_NOINPUT : 0;
    }
    env_file_data = calloc(1, ENV_FILE_MAX + 1);
    if (env_file_data == NULL) {
        fclose(f);
        fprintf(stderr, PROG ": out of memory\n");
        return EX_SOFTWARE;
    }
    len = fread(env_file_data, 1, ENV_FILE_MAX + 1, f);
    fclose(f);
    if (len > ENV_FILE_MAX) {
        fprintf(stderr, PROG ": %s is larger than %d bytes\n", path, ENV_FILE_MAX);
        return EX_DATAERR;
    }
    for (line = strtok_r(env_file_data, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq;

        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '#' || *line == '\0')
            continue;
        if (strncmp(line, "export ", 7) == 0)
            line += 7;
        eq = strchr(line, '=');
        if (eq == NULL || eq == line || env_file_n == ENV_FILE_VARS)
            continue;
        *eq = '\0';
        line[strcspn(line, " \t")] = '\0';
        eq[1 + strcspn(eq + 1, "\r")] = '\0';
        env_file_names[env_file_n] = line;
        env_file_values[env_file_n] = unquote(eq + 1);
        env_file_n++;
    }
    return 0;
}

/* The environment first, then the file (its last assignment of a name wins). */
static const char *lookup(const char *name)
{
    const char *v = getenv(name);
    size_t i;

    if (v != NULL && v[0] != '\0')
        return v;
    for (i = env_file_n; i-- > 0;)
        if (strcmp(env_file_names[i], name) == 0)
            return env_file_values[i];
    return NULL;
}

/* Reads one line of standard input into `out` without its line end. With `prompt` and a
 * terminal, the prompt goes to stderr and echo is off. Returns false at end of input or when
 * the line does not fit. */
static bool read_line(const char *prompt, char *out, size_t size)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    bool ok;
    size_t n;

    if (tty) {
        fputs(prompt, stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    ok = fgets(out, (int)size, stdin) != NULL;
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!ok)
        return false;
    n = strlen(out);
    if (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    else if (!feof(stdin))
        return false; /* longer than the buffer */
    if (n > 0 && out[n - 1] == '\r')
        out[--n] = '\0';
    return true;
}

/* Prints the details of a failed validation, one field per line. */
static void print_invalid(const struct lumira_valid *v)
{
    const struct json_object *d = lumira_valid_details(v);
    size_t i, n = d != NULL ? json_object_array_length(d) : 0;

    for (i = 0; i < n; i++) {
        struct json_object *f, *m, *item = json_object_array_get_idx(d, i);

        if (json_object_object_get_ex(item, "field", &f) &&
            json_object_object_get_ex(item, "message", &m))
            fprintf(stderr, PROG ": --%s %s\n", json_object_get_string(f),
                    json_object_get_string(m));
    }
}

/* Exit status and message for a failed data access. */
static int db_failed(enum lumira_err res, const char *err)
{
    fprintf(stderr, PROG ": database: %s\n", err);
    return res == LUMIRA_EUNAVAIL ? EX_UNAVAILABLE : EX_SOFTWARE;
}

static int create_expert(struct lumira_mongo *db, const char *email_arg, const char *name_arg,
                         const char *role_arg)
{
    char pw[LUMIRA_UTF8_BYTES(LUMIRA_MAX_PASSWORD_CHARS) + 2];
    char again[sizeof(pw)], err[LUMIRA_MAX_ERRMSG];
    struct json_object *args = json_object_new_object();
    struct lumira_valid v;
    struct lumira_expert e;
    const char *pwv;
    size_t pwlen;
    enum lumira_err res;
    int status = 0;

    lumira_valid_init(&v);
    memset(&e, 0, sizeof(e));
    if (args == NULL)
        return EX_SOFTWARE;
    if (!read_line("Password: ", pw, sizeof(pw))) {
        fprintf(stderr, PROG ": no password on standard input (6-128 characters, one line)\n");
        status = EX_DATAERR;
        goto out;
    }
    if (isatty(STDIN_FILENO) &&
        (!read_line("Password again: ", again, sizeof(again)) || strcmp(pw, again) != 0)) {
        fprintf(stderr, PROG ": the passwords differ\n");
        status = EX_DATAERR;
        goto out;
    }
    /* The same rules as POST /api/expert/register. */
    json_object_object_add(args, "email", json_object_new_string(email_arg));
    json_object_object_add(args, "name", json_object_new_string(name_arg));
    json_object_object_add(args, "password", json_object_new_string(pw));
    if (role_arg != NULL)
        json_object_object_add(args, "role", json_object_new_string(role_arg));
    if (!lumira_expert_read_new(&v, args, &e, &pwv, &pwlen)) {
        print_invalid(&v);
        status = EX_DATAERR;
        goto out;
    }
    if ((res = lumira_password_hash(pwv, pwlen, e.hash, sizeof(e.hash))) != LUMIRA_OK) {
        fprintf(stderr, PROG ": cannot hash the password: %s\n", lumira_strerror(res));
        status = EX_SOFTWARE;
        goto out;
    }
    res = lumira_experts_ensure_indexes(db, err, sizeof(err));
    if (res == LUMIRA_ECONFIG)
        fprintf(stderr, PROG ": warning: %s\n", err);
    else if (res != LUMIRA_OK) {
        status = db_failed(res, err);
        goto out;
    }
    res = lumira_experts_insert(db, &e, lumira_wall_ms(), err, sizeof(err));
    if (res == LUMIRA_EEXIST) {
        fprintf(stderr, PROG ": an expert with e-mail %s exists\n", e.email);
        status = EX_CANTCREAT;
    } else if (res != LUMIRA_OK) {
        status = db_failed(res, err);
    } else {
        printf("created %s %s (id %s)\n", lumira_role_name(e.role), e.email, e.id);
        lumira_log(LUMIRA_LOG_INFO, "admin", "created %s id %s", lumira_role_name(e.role), e.id);
    }
out:
    explicit_bzero(pw, sizeof(pw));
    explicit_bzero(again, sizeof(again));
    explicit_bzero(e.hash, sizeof(e.hash));
    json_object_put(args); /* its password copy is freed with it */
    lumira_valid_cleanup(&v);
    return status;
}

static int set_active(struct lumira_mongo *db, const char *email_arg, const char *active_arg)
{
    char email[LUMIRA_MAX_EMAIL + 1], err[LUMIRA_MAX_ERRMSG];
    bool active;
    enum lumira_err res;

    if (!lumira_email_normalize(email_arg, strlen(email_arg), email)) {
        fprintf(stderr, PROG ": --email must be a valid e-mail address\n");
        return EX_DATAERR;
    }
    if (strcmp(active_arg, "true") == 0)
        active = true;
    else if (strcmp(active_arg, "false") == 0)
        active = false;
    else {
        fprintf(stderr, PROG ": --active must be true or false\n");
        return EX_USAGE;
    }
    res = lumira_experts_set_active(db, email, active, lumira_wall_ms(), err, sizeof(err));
    if (res == LUMIRA_ENOTFOUND) {
        fprintf(stderr, PROG ": no expert with e-mail %s\n", email);
        return EX_NOUSER;
    }
    if (res != LUMIRA_OK)
        return db_failed(res, err);
    printf("%s %s\n", email, active ? "enabled" : "disabled");
    return 0;
}

/* The value of option `name` at argv[*i] ("--name VALUE"); advances *i. */
static bool take_opt(int argc, char **argv, int *i, const char *name, const char **out)
{
    if (strcmp(argv[*i], name) != 0)
        return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n", name);
        exit(EX_USAGE);
    }
    *out = argv[++*i];
    return true;
}

int main(int argc, char **argv)
{
    const char *env_file = NULL, *cmd, *email = NULL, *name = NULL, *role = NULL, *active = NULL;
    struct lumira_config cfg;
    struct lumira_mongo *db = NULL;
    int i = 1, status;

    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (i < argc && take_opt(argc, argv, &i, "--env-file", &env_file))
        i++;
    if (i >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    cmd = argv[i++];
    for (; i < argc; i++) {
        if (!take_opt(argc, argv, &i, "--email", &email) &&
            !take_opt(argc, argv, &i, "--name", &name) &&
            !take_opt(argc, argv, &i, "--role", &role) &&
            !take_opt(argc, argv, &i, "--active", &active)) {
            fprintf(stderr, PROG ": unknown argument %s\n", argv[i]);
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (!((strcmp(cmd, "create-expert") == 0 && email != NULL && name != NULL && active == NULL) ||
          (strcmp(cmd, "set-active") == 0 && email != NULL && active != NULL && name == NULL &&
           role == NULL))) {
        usage(stderr);
        return EX_USAGE;
    }
    status = load_env_file(env_file != NULL ? env_file : LUMIRA_ENV_FILE, env_file != NULL);
    if (status != 0)
        return status;
    /* Messages of the libraries go to stderr; LOG_FILE belongs to the services. */
    if (lumira_log_open(PROG, NULL, LUMIRA_LOG_WARN) != LUMIRA_OK)
        return EX_SOFTWARE;
    if (lumira_config_load(&cfg, lookup) != LUMIRA_OK) {
        fprintf(stderr, PROG ": bad configuration: %s\n", lumira_config_error(&cfg));
        return LUMIRA_EXIT_CONFIG;
    }
    lumira_mongo_global_init(cfg.mongodb_uri);
    lumira_app_db(PROG, &cfg, &db);
    if (strcmp(cmd, "create-expert") == 0)
        status = create_expert(db, email, name, role);
    else
        status = set_active(db, email, active);
    lumira_mongo_free(db);
    lumira_mongo_global_cleanup();
    lumira_config_cleanup(&cfg);
    lumira_log_close();
    free(env_file_data);
    return status;
}
