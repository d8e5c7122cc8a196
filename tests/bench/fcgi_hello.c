/* The floor of our shape for scripts/bench: a libfcgi worker that accepts a request, prints a
 * fixed JSON answer and finishes it, and nothing else. It runs under spawn-fcgi + multiwatch
 * behind the dev stack's nginx exactly as the programs do, so that the distance between it and
 * a route is ours. Built by scripts/bench (cc -O2 ... -lfcgi); not part of the product. */
#include <fcgiapp.h>

static const char reply[] = "Status: 200 OK\r\n"
                            "Content-Type: application/json\r\n"
                            "\r\n"
                            "{\"status\":\"ok\"}";

int main(void)
{
    FCGX_Request r;

    if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
        return 1;
    while (FCGX_Accept_r(&r) >= 0) {
        FCGX_PutStr(reply, (int)sizeof(reply) - 1, r.out);
        FCGX_Finish_r(&r);
    }
    return 0;
}
