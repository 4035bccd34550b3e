/*
 * A program that closes every descriptor it did not open (as daemons and
 * sandboxes do), then reuses the numbers for its own pipe and file: nothing
 * of ours may read from or write to them afterwards.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static int pipe_roundtrip(void)
{
    char out[4096], in[4096];
    int fd[2], ok = 1;

    if (pipe(fd) != 0)
        return 0;
    for (int r = 0; r < 200 && ok; r++) {
        for (size_t i = 0; i < sizeof(out); i++)
            out[i] = (char)(i * 7 + (size_t)r);
        pthread_mutex_lock(&g_lock);
        ok = write(fd[1], out, sizeof(out)) == (ssize_t)sizeof(out) &&
             read(fd[0], in, sizeof(in)) == (ssize_t)sizeof(in) &&
             memcmp(in, out, sizeof(in)) == 0;
        pthread_mutex_unlock(&g_lock);
        free(malloc(1000));
        spin(20000);
    }
    close(fd[0]);
    close(fd[1]);
    return ok;
}

static int file_roundtrip(void)
{
    char path[] = "/tmp/hostile-closefds-XXXXXX", buf[512];
    int fd = mkstemp(path), ok = 1;
    long sum = 0;

    if (fd < 0)
        return 0;
    unlink(path);
    for (int i = 0; i < 2000; i++) {
        memset(buf, 'a' + i % 26, sizeof(buf));
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            ok = 0;
    }
    spin(2000000);
    lseek(fd, 0, SEEK_SET);
    for (int i = 0; i < 2000 && ok; i++) {
        if (read(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            ok = 0;
        for (size_t j = 0; j < sizeof(buf); j++)
            sum += buf[j] != 'a' + i % 26;
    }
    close(fd);
    return ok && sum == 0;
}

int main(void)
{
    struct rlimit rl;
    int max = 1024;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536)
        max = (int)rl.rlim_cur;
    fflush(stdout);
    for (int fd = 3; fd < max; fd++)
        close(fd);
    printf("pipe %s file %s\n", pipe_roundtrip() ? "ok" : "CORRUPT",
           file_roundtrip() ? "ok" : "CORRUPT");
    /* Again, with everything closed a second time. */
    for (int fd = 3; fd < max; fd++)
        close(fd);
    printf("pipe %s file %s\n", pipe_roundtrip() ? "ok" : "CORRUPT",
           file_roundtrip() ? "ok" : "CORRUPT");
    return 0;
}
