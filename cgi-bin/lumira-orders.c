/* lumira-orders: checkout, the Stripe webhook, the orders API and the expert desk (API.md
 * "Checkout and payments", "Orders", "Expert desk"; docs/ORDERS.md says how the contract is
 * filled in). This program handles money: every change of an order is a conditional update on
 * its current status, every exactly-once decision an insert under a unique index (orders.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoconfig.h"
#include "lumira-orders.h"
#include "mongo.h"

#define PROG "lumira-orders"
#define JWT_SECRET_MIN 32

/* More specific patterns first: the first route that matches wins. */
static const struct lumira_route routes[] = {
    {"POST", "/api/stripe/create-payment-intent", handle_checkout},
    {"POST", "/api/stripe/webhook", handle_webhook},
    {"GET", "/api/orders", handle_list},
    {"GET", "/api/orders/stats/overview", handle_overview},
    {"GET", "/api/orders/number/:orderNumber", handle_by_number},
    {"GET", "/api/orders/:id", handle_get},
    {"PATCH", "/api/orders/:id/status", handle_status},
    {"PATCH", "/api/orders/:id/expert-review", handle_review},
    {"PATCH", "/api/orders/:id/content", handle_content},
    {"PATCH", "/api/orders/:id/delivered", handle_delivered},
    {"GET", "/api/expert/orders/pending", handle_pending},
    {"GET", "/api/expert/orders/assigned", handle_assigned},
    {"GET", "/api/expert/orders/:id", handle_desk_order},
    {"POST", "/api/expert/orders/:id/assign", handle_assign},
    {"POST", "/api/expert/process-order", handle_process},
    {"POST", "/api/expert/n8n-callback", handle_callback},
    {"GET", "/api/expert/stats", handle_stats},
};

/* No Cyrus SASL plugin loaded unless GSSAPI is asked for (mongo.h). */
LUMIRA_MONGO_SASL_EARLY();

int main(void)
{
    struct lumira_config cfg;
    struct ctx c = {&cfg, NULL, NULL, NULL, {false, 0}};
    struct lumira_app app = {PROG, routes, sizeof(routes) / sizeof(routes[0]), &c};
    int status;

    lumira_app_boot(PROG, &cfg);
    lumira_stripe_global_init();
    lumira_config_require_secret("JWT_SECRET", cfg.jwt_secret, JWT_SECRET_MIN);
    lumira_config_require_secret("STRIPE_SECRET_KEY", cfg.stripe_secret_key, 0);
    lumira_config_require_secret("STRIPE_WEBHOOK_SECRET", cfg.stripe_webhook_secret, 0);
    lumira_config_require_secret("N8N_CALLBACK_SECRET", cfg.n8n_callback_secret, 0);
    if (cfg.n8n_webhook_url == NULL)
        lumira_log(LUMIRA_LOG_WARN, "config",
                   "N8N_WEBHOOK_URL is not set: process-order will answer 503");
    lumira_app_db(PROG, &cfg, &c.db);
    if (lumira_stripe_new(cfg.stripe_api_base, cfg.stripe_secret_key, &c.stripe) != LUMIRA_OK ||
        lumira_fetch_new(&c.fetch) != LUMIRA_OK) {
        lumira_log(LUMIRA_LOG_ERROR, "main", "out of memory at start");
        return 1;
    }
    ensure_indexes(&c);
    status = lumira_serve(&app);
    lumira_fetch_free(c.fetch);
    lumira_stripe_free(c.stripe);
    lumira_mongo_free(c.db);
    lumira_stripe_global_cleanup();
    lumira_app_shutdown(&cfg, NULL);
    return status;
}
