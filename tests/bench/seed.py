#!/usr/bin/python3
"""Seeds a Lumira database for scripts/bench: at least USERS users and ORDERS orders, in the
shapes the programs write (src/users.c, src/orders.c, cgi-bin/orders-*.c).

  seed.py MONGODB_URI [--orders 10000] [--users 1000] [--pending 600]

Straight into the database (the bench gives FerretDB's own port, not the counting proxy), with
insert_many in batches. Idempotent: only what is missing is added, so a second run adds nothing
(the bench's own checkouts add real orders on top). Seeded users have addresses
seed-NNNNN@bench.example.com; seeded orders belong to them, are spread over the 365 days before
the day of seeding (never today, whose counter the programs' checkouts use), and are numbered
LU<yymmdd><seq> with seq from 500, far above any day's real checkouts here. Levels, statuses and
the fields each status carries follow a checkout's life: level 1 is paid at once; levels 2-4
have a paymentIntentId; paid and later have paidAt; processing and later an assigned expert;
completed a generatedContent (about 1 KiB of reading) and an approved expertReview.

--pending: also make sure the database holds at least that many pending orders of levels 2-4
(the webhook rows of the bench pay some of them on every run), adding seeded ones if needed.

Prints one JSON line: {"orders", "users", "pending", "added_orders", "added_users", "seconds"}.
"""

import argparse
import datetime
import json
import random
import sys
import time

import bson
import pymongo
from pymongo.errors import BulkWriteError

LEVELS = {1: ("Simple", 0), 2: ("Intuitive", 1400), 3: ("Alchimique", 2900), 4: ("Intégrale", 4900)}
# A paid level's order goes through these with these weights; level 1 starts at paid.
STATUSES = [("pending", 12), ("paid", 15), ("processing", 15), ("completed", 43), ("failed", 10),
            ("refunded", 5)]
BATCH = 500
# FerretDB v1.24.2 (SQLite) keeps one connection per statement of an update command open until
# the command ends and has 100 of them: an update command of more than 100 statements hangs
# for good. Updates go in commands of at most this many.
UPDATE_BATCH = 50
SEQ_BASE = 500
DOMAIN = "bench.example.com"
FIRST = ["Ana", "Lucas", "Emma", "Hugo", "Léa", "Noah", "Chloé", "Louis", "Inès", "Jules", "Zoé",
         "Arthur", "Manon", "Gabriel", "Camille", "Raphaël"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
        "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Fournier"]
QUESTIONS = ["Quel chemin pour ma carrière cette année ?", "Comment retrouver l'équilibre ?",
             "Que me réserve ma relation actuelle ?", ""]
READING = ("Votre lecture commence par l'arcane de l'Étoile, signe d'un renouveau patient. " * 14)


def user_email(i):
    return "seed-%05d@%s" % (i, DOMAIN)


def make_user(i, now):
    created = now - datetime.timedelta(days=400 - (i % 30))
    doc = {"_id": bson.ObjectId(), "email": user_email(i), "firstName": FIRST[i % len(FIRST)],
           "lastName": LAST[(i // len(FIRST)) % len(LAST)], "totalOrders": 0,
           "createdAt": created, "updatedAt": created}
    if i % 3 == 0:
        doc["phone"] = "+33 6 %02d %02d %02d %02d" % (i % 100, (i // 7) % 100, (i // 3) % 100, 42)
    if i % 2 == 0:
        doc["stripeCustomerId"] = "cus_seed%08d" % i
    return doc


def make_order(i, user, now, rnd, status=None, level=None):
    """Seeded order number i (its day and sequence follow from i), for `user`."""
    day = now.date() - datetime.timedelta(days=1 + (i % 365))
    seq = SEQ_BASE + i // 365
    created = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(seconds=rnd.randrange(86400))
    level = level or rnd.choice((1, 2, 2, 3, 3, 4))
    if status is None:
        names, weights = zip(*STATUSES)
        status = rnd.choices(names, weights)[0]
        if level == 1 and status in ("pending", "failed", "refunded"):
            status = "paid"
    name, amount = LEVELS[level]
    form = {"firstName": user["firstName"], "lastName": user["lastName"], "email": user["email"]}
    if "phone" in user:
        form["phone"] = user["phone"]
    q = QUESTIONS[i % len(QUESTIONS)]
    if q:
        form["specificQuestion"] = q
    if i % 4 == 0:
        form["preferences"] = {"audioVoice": "feminine", "deliveryFormat": "email"}
    doc = {"_id": bson.ObjectId(), "orderNumber": "LU%s%03d" % (day.strftime("%y%m%d"), seq),
           "userId": user["_id"], "userEmail": user["email"], "level": level, "levelName": name,
           "amount": bson.int64.Int64(amount), "currency": "eur", "status": status,
           "formData": form, "createdAt": created}
    t = created
    if level > 1:
        doc["paymentIntentId"] = "pi_seed%010d" % i
    if status in ("paid", "processing", "completed", "refunded"):
        t += datetime.timedelta(minutes=2)
        doc["paidAt"] = t
    if status == "failed":
        t += datetime.timedelta(minutes=2)
        doc["failedAt"] = t
        doc["failureReason"] = "Your card was declined."
    if status in ("processing", "completed"):
        t += datetime.timedelta(hours=3)
        doc["assignedExpertId"] = bson.ObjectId(b"seedexpert01")
        doc["assignedExpertName"] = "Seed Expert"
        doc["assignedAt"] = t
        doc["processingStartedAt"] = t
    if status == "completed":
        t += datetime.timedelta(hours=20)
        doc["generatedContent"] = {"reading": READING, "audioUrl": "https://cdn.example.com/a/%d.mp3" % i}
        doc["contentGeneratedAt"] = t
        doc["expertReview"] = {"status": "approved", "expertId": doc["assignedExpertId"],
                               "expertName": "Seed Expert", "reviewedAt": t}
        doc["deliveredAt"] = t + datetime.timedelta(hours=1)
        t = doc["deliveredAt"]
    if status == "refunded":
        t += datetime.timedelta(days=2)
        doc["refundedAt"] = t
    doc["updatedAt"] = t
    return doc


def insert(coll, docs):
    """insert_many in batches; a document whose unique key exists already is skipped. Returns the
    number inserted."""
    n = 0
    for k in range(0, len(docs), BATCH):
        try:
            n += len(coll.insert_many(docs[k:k + BATCH], ordered=False).inserted_ids)
        except BulkWriteError as e:
            n += e.details.get("nInserted", 0)
            other = [w for w in e.details.get("writeErrors", []) if w.get("code") != 11000]
            if other:
                raise
    return n


def refresh_users(db, pool):
    """totalOrders and lastOrderAt of the seeded users, as lumira_users_refresh_stats() keeps
    them: the orders paid, processing or completed."""
    stats = {}
    for o in db.orders.find({"userEmail": {"$regex": "@" + DOMAIN.replace(".", r"\.") + "$"},
                             "status": {"$in": ["paid", "processing", "completed"]}},
                            {"userId": 1, "createdAt": 1}):
        n, last = stats.get(o["userId"], (0, None))
        stats[o["userId"]] = (n + 1, max(last, o["createdAt"]) if last else o["createdAt"])
    ops = [pymongo.UpdateOne({"_id": u["_id"]}, {"$set": {"totalOrders": stats[u["_id"]][0],
                                                          "lastOrderAt": stats[u["_id"]][1]}})
           for u in pool if u["_id"] in stats]
    for k in range(0, len(ops), UPDATE_BATCH):
        db.users.bulk_write(ops[k:k + UPDATE_BATCH], ordered=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("uri")
    ap.add_argument("--orders", type=int, default=10000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--pending", type=int, default=0)
    a = ap.parse_args()
    t0 = time.monotonic()
    client = pymongo.MongoClient(a.uri, serverSelectionTimeoutMS=10000)
    db = client.get_default_database()
    now = datetime.datetime.now(datetime.timezone.utc)
    rnd = random.Random(20261201)
    added_users = added_orders = 0

    seeded_re = {"$regex": "@" + DOMAIN.replace(".", r"\.") + "$"}
    users_held = db.users.count_documents({})
    orders_held = db.orders.count_documents({})
    pending_held = db.orders.count_documents({"status": "pending", "level": {"$gte": 2}}) \
        if a.pending else 0
    if users_held < a.users or orders_held < a.orders or pending_held < a.pending:
        seeded = {u["email"]: u for u in db.users.find({"email": seeded_re})}
        if users_held < a.users:
            first = len(seeded)
            docs = [make_user(i, now) for i in range(first, first + a.users - users_held)]
            added_users = insert(db.users, docs)
            seeded.update((d["email"], d) for d in docs)
        pool = [seeded[e] for e in sorted(seeded)]
        if not pool:
            sys.exit("seed.py: no seeded user to own the orders (more than --users users held "
                     "already?)")
        # Seeded order k has a number of its own (day and sequence follow from k): carry on
        # after those made so far.
        i = db.orders.count_documents({"userEmail": seeded_re})
        while orders_held < a.orders:
            need = a.orders - orders_held
            docs = [make_order(k, pool[rnd.randrange(len(pool))], now, rnd) for k in range(i, i + need)]
            got = insert(db.orders, docs)
            added_orders += got
            orders_held += got
            i += need
        if pending_held < a.pending:
            docs = [make_order(k, pool[rnd.randrange(len(pool))], now, rnd, status="pending",
                               level=rnd.choice((2, 3, 4)))
                    for k in range(i, i + a.pending - pending_held)]
            added_orders += insert(db.orders, docs)
        if added_orders:
            refresh_users(db, pool)
    if added_users or added_orders:
        users_held = db.users.count_documents({})
        orders_held = db.orders.count_documents({})
        pending_held = db.orders.count_documents({"status": "pending", "level": {"$gte": 2}})
    out = {"orders": orders_held, "users": users_held, "pending": pending_held,
           "added_orders": added_orders, "added_users": added_users,
           "seconds": round(time.monotonic() - t0, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
