#ifndef LUMIRA_USERS_H
#define LUMIRA_USERS_H

#include <stdint.h>

#include "err.h"
#include "jwt.h"
#include "lumira_limits.h"
#include "mongo.h"

/* The `users` collection (API.md "Data"): customers, one per normalised e-mail address (unique
 * index on `email`), with `firstName`, `lastName`, `phone`, `dateOfBirth`, `stripeCustomerId`,
 * `totalOrders`, `lastOrderAt`, `createdAt`, `updatedAt`. Errors as in orders.h. What is read
 * is copied into the caller's struct lumira_user: nothing points into a database reply. */

#define LUMIRA_USERS "users"
#define LUMIRA_STRIPE_ID_MAX 255

struct lumira_user {
    bson_oid_t oid;
    char id[LUMIRA_OID_HEX + 1];
    char stripe_customer[LUMIRA_STRIPE_ID_MAX + 1]; /* "" when none yet */
};

/* Creates the unique index on `email` (idempotent). */
enum lumira_err lumira_users_ensure_indexes(struct lumira_mongo *m, char *err,
                                            size_t errlen) LUMIRA_WARN_UNUSED;

/* Finds the user with address `email` or makes one from `form` (a checkout's formData:
 * firstName, lastName, phone, dateOfBirth). An existing user only gets the fields its document
 * lacks (absent, null or empty): a checkout never overwrites what is stored (API.md, **(fix)**).
 * Two checkouts of a new address at once make one user: the loser of the insert re-reads. */
enum lumira_err lumira_users_upsert(struct lumira_mongo *m, const char *email, const bson_t *form,
                                    int64_t now_ms, struct lumira_user *out, char *err,
                                    size_t errlen) LUMIRA_WARN_UNUSED;

/* Stores the user's Stripe customer id. */
enum lumira_err lumira_users_set_customer(struct lumira_mongo *m, const bson_oid_t *id,
                                          const char *customer, int64_t now_ms, char *err,
                                          size_t errlen) LUMIRA_WARN_UNUSED;

/* Brings totalOrders (the user's paid, processing and completed orders, counted) and
 * lastOrderAt (`paid_at_ms`) up to date with $max, so a retry or a late writer never lowers or
 * double-counts them. `user_id` is 24 hex characters. */
enum lumira_err lumira_users_refresh_stats(struct lumira_mongo *m, const char *user_id,
                                           int64_t paid_at_ms, int64_t now_ms, char *err,
                                           size_t errlen) LUMIRA_WARN_UNUSED;

#endif
