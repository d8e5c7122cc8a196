#ifndef LUMIRA_LIMITS_H
#define LUMIRA_LIMITS_H

/* Every hard cap of the shared layer lives here, named after what it bounds (curl's DYN_* list). */

/* Request bodies: API.md "Bodies over 1 MiB: 413". */
#define LUMIRA_MAX_BODY (1024 * 1024)
/* Deepest JSON nesting accepted in a body (API.md: "deeply nested (> 32) ... 400"). */
#define LUMIRA_JSON_MAX_DEPTH 32
/* Deepest nesting of a stored document shown as JSON (MongoDB stores at most 100 levels);
 * deeper documents and arrays show as null. */
#define LUMIRA_BSON_MAX_DEPTH 100
/* A whole response body we build. */
#define LUMIRA_MAX_RESPONSE (8 * 1024 * 1024)
/* Response headers we add (names and values together). */
#define LUMIRA_MAX_RESPONSE_HEADERS (8 * 1024)
/* Request path and query string as received. */
#define LUMIRA_MAX_PATH 2048
#define LUMIRA_MAX_QUERY 4096
/* One decoded query parameter value. */
#define LUMIRA_MAX_QUERY_VALUE 1024
/* Route parameters captured from one path (":id" and friends); a pattern with more never
 * matches. */
#define LUMIRA_MAX_ROUTE_PARAMS 4
/* Request id: API.md "1-64 chars of [A-Za-z0-9._-]". */
#define LUMIRA_REQID_MAX 64
/* One log line, JSON included; a longer message is cut and marked. */
#define LUMIRA_LOG_LINE_MAX 4096
/* Bytes of hostile input copied into a log line, cleaned (redis PROTO_DUMP_LEN). */
#define LUMIRA_LOG_SAMPLE_MAX 32
/* An environment value we accept (a MongoDB URI with many hosts is the longest). */
#define LUMIRA_MAX_ENV_VALUE 4096
/* Replies read from Stripe. */
#define LUMIRA_STRIPE_MAX_REPLY (1024 * 1024)
/* Bytes read of n8n's answer to a posted order (only its status is used). */
#define LUMIRA_N8N_MAX_REPLY (64 * 1024)
/* A webhook signature header (Stripe-Signature, X-N8N-Signature) as received, and the
 * comma-separated items of a Stripe-Signature (t, v1, v0, ...). */
#define LUMIRA_MAX_SIG_HEADER 4096
#define LUMIRA_MAX_SIG_ITEMS 16
/* The replay headers of an n8n callback: X-Nonce length, X-Timestamp digits (Unix ms: 13 today,
 * 15 reach the year 33658). */
#define LUMIRA_MAX_NONCE 128
#define LUMIRA_MAX_TIMESTAMP_DIGITS 15
/* A dependency error message kept for a response or a log line. */
#define LUMIRA_MAX_ERRMSG 256
/* Time between two attempts of a worker to make its indexes while the database fails. */
#define LUMIRA_INDEX_RETRY_MS 10000
/* Bytes of a response's buffers a worker keeps from one request to the next. */
#define LUMIRA_RESP_KEEP (64 * 1024)
/* Lines read from /proc files. */
#define LUMIRA_MAX_PROC_FILE 16384
/* Longest the host memory shown by /api/health and /api/ready may be old (a reading of
 * /proc/meminfo per request cost more than the rest of a health request). */
#define LUMIRA_MEMINFO_MAX_AGE_MS 1000
/* A bearer token (JWT) as received; ours are about 300 bytes. */
#define LUMIRA_MAX_JWT 2048
/* A decoded JWT header or payload. */
#define LUMIRA_MAX_JWT_PART 1024
/* E-mail addresses (API.md: trimmed, lower-cased, at most 254 chars). */
#define LUMIRA_MAX_EMAIL 254
/* Names and other short strings, in characters (API.md "Conventions"). */
#define LUMIRA_MAX_NAME_CHARS 100
/* Passwords, in characters (API.md "Expert authentication": 6-128). */
#define LUMIRA_MIN_PASSWORD_CHARS 6
#define LUMIRA_MAX_PASSWORD_CHARS 128
/* Bytes a string of n characters may take in UTF-8. */
#define LUMIRA_UTF8_BYTES(n) ((n) * 4)

#endif
