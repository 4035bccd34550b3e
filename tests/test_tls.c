/*
 * TLS against a server with a self-signed certificate made by openssl at
 * test time: verification is on by default (a clear error, nothing sent,
 * profiles kept), tls_ca_file or PYROSCOPE_TLS_CA_FILE makes it pass, and
 * the explicit insecure switch passes with a warning; a certificate for
 * another name is refused even from a trusted CA; https_proxy tunnels
 * through CONNECT.
 * usage: test_tls path/to/tls_server.py path/to/connect_proxy.py
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/test.h"
#include "support/workload.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_log[1 << 16];
static size_t g_len;

static void capture(int level, const char *msg, void *payload)
{
    (void)payload;
    pthread_mutex_lock(&g_lock);
    g_len += (size_t)snprintf(g_log + g_len, sizeof(g_log) - g_len,
                              "%d %s\n", level, msg);
    if (g_len >= sizeof(g_log))
        g_len = sizeof(g_log) - 1;
    pthread_mutex_unlock(&g_lock);
}

static int logged(const char *needle)
{
    int r;

    pthread_mutex_lock(&g_lock);
    r = strstr(g_log, needle) != NULL;
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* Run a python3 helper; its first line is its port, later lines stay
 * readable through *out. */
static pid_t spawn(const char *script, const char *a1, const char *a2,
                   FILE **out, int *port)
{
    char line[32] = "";
    int fd[2];
    pid_t pid;

    ASSERT(pipe(fd) == 0);
    pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        execlp("python3", "python3", script, a1, a2, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    *out = fdopen(fd[0], "r");
    if (!*out || !fgets(line, sizeof(line), *out) || atoi(line) <= 0) {
        printf("skip - cannot start %s\n", script);
        exit(77);
    }
    *port = atoi(line);
    return pid;
}

static pid_t start_server(const char *script, const char *dir, int *port)
{
    char cert[600], key[600];
    FILE *f;
    pid_t pid;

    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    pid = spawn(script, cert, key, &f, port);
    fclose(f);
    return pid;
}

static void run(const char *url, const char *ca, int insecure, int expect_ok,
                const char *what)
{
    pyroscope_config c = PYROSCOPE_CONFIG_INIT;
    pyroscope_stats st;
    double t0 = wl_mono();
    pyroscope *p;

    pthread_mutex_lock(&g_lock);
    g_len = 0;
    g_log[0] = '\0';
    pthread_mutex_unlock(&g_lock);
    c.application_name = "spool-tls";
    c.server_address = url;
    c.upload_interval_ms = 100;
    c.stop_timeout_ms = 500;
    c.tls_ca_file = ca;
    c.tls_insecure = insecure;
    c.log_level = PYROSCOPE_LOG_INFO;
    c.log_fn = capture;
    ASSERT_EQ(pyroscope_start(&p, &c), 0);
    for (;;) {
        work_alpha(0.05);
        pyroscope_get_stats(p, &st);
        if (expect_ok ? st.profiles_uploaded > 0
                      : logged("TLS verification failed"))
            break;
        if (wl_mono() - t0 > 60)
            FAILF("%s: no %s within 60 s; log:\n%s", what,
                  expect_ok ? "delivery" : "TLS error", g_log);
    }
    pyroscope_stop(p);
    if (!expect_ok) {
        ASSERT_EQ(st.profiles_uploaded, 0);
        ASSERT_EQ(st.profiles_dropped, 0);
        ASSERT(logged("tls_ca_file"));  /* says what to do */
    } else {
        ASSERT(!logged("TLS verification failed"));
    }
    printf("%s:\n%s", what, g_log);
}

/* https_proxy: the tunnel goes to the server, verification still holds. */
static void through_proxy(const char *script, const char *url, const char *ca,
                          int server_port)
{
    char proxy[64], line[128], want[64];
    int pport;
    FILE *f;
    pid_t pid = spawn(script, NULL, NULL, &f, &pport);

    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", pport);
    setenv("https_proxy", proxy, 1);
    run(url, ca, 0, 1, "through a CONNECT proxy");
    unsetenv("https_proxy");
    ASSERT(logged("through the proxy http://127.0.0.1"));
    ASSERT(fgets(line, sizeof(line), f));
    snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%d\n", server_port);
    ASSERT_STR_EQ(line, want);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(f);
}

int main(int argc, char **argv)
{
    char *dir = wl_tempdir("tls"), cmd[2048], url[64], ca[600];
    int port;
    pid_t srv;

    ASSERT(argc > 2);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout "
             "key.pem -out cert.pem -days 2 -subj /CN=127.0.0.1 -addext "
             "subjectAltName=IP:127.0.0.1 >/dev/null 2>&1", dir);
    if (system(cmd) != 0) {
        printf("skip - openssl cannot make a certificate\n");
        return 77;
    }
    snprintf(ca, sizeof(ca), "%s/cert.pem", dir);
    srv = start_server(argv[1], dir, &port);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    run(url, NULL, 0, 0, "default (system CAs)");
    TEST_OK("self-signed server refused by default, with a clear error");
    run(url, ca, 0, 1, "tls_ca_file");
    TEST_OK("tls_ca_file trusts the server");
    setenv("PYROSCOPE_TLS_CA_FILE", ca, 1);
    run(url, NULL, 0, 1, "PYROSCOPE_TLS_CA_FILE");
    unsetenv("PYROSCOPE_TLS_CA_FILE");
    TEST_OK("PYROSCOPE_TLS_CA_FILE trusts the server");
    setenv("PYROSCOPE_TLS_INSECURE", "1", 1);
    run(url, NULL, 0, 1, "PYROSCOPE_TLS_INSECURE=1");
    ASSERT(logged("tls_insecure is set"));
    unsetenv("PYROSCOPE_TLS_INSECURE");
    TEST_OK("the insecure switch works and warns");
    /* The certificate names 127.0.0.1; "localhost" reaches the same
     * server but is not its name. */
    snprintf(url, sizeof(url), "https://localhost:%d", port);
    run(url, ca, 0, 0, "trusted CA, wrong host name");
    ASSERT(logged("mismatch"));
    TEST_OK("the host name is checked, not only the CA");
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    through_proxy(argv[2], url, ca, port);
    TEST_OK("https through an HTTP CONNECT proxy (https_proxy)");
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    free(dir);
    return 0;
}
