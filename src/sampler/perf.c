#include "perf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/log.h"
#include "../fdguard/fdguard.h"

#define MAX_BUDGET 1024

static atomic_int g_open;
static int g_budget;
static int g_fd_floor;    /* where our fds go: high, out of select()'s way */
static int g_user_only;   /* exclude_kernel: perf_event_paranoid >= 2 */

static long sys_perf_event_open(struct perf_event_attr *a, pid_t tid)
{
    return syscall(SYS_perf_event_open, a, tid, -1, -1,
                   PERF_FLAG_FD_CLOEXEC);
}

static int open_event(pid_t tid, uint64_t first_ns)
{
    struct perf_event_attr a;
    long fd;

    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.sample_period = first_ns < 10000 ? 10000 : first_ns;
    a.disabled = 1;
    a.exclude_hv = 1;
    /* Kernel time counts too where allowed: a hit inside a syscall is then
     * delivered on return to the very user stack that made it. */
    a.exclude_kernel = (unsigned)g_user_only;
    fd = FDGUARD((int)sys_perf_event_open(&a, tid));
    if (fd < 0 && (errno == EACCES || errno == EPERM) && !g_user_only) {
        g_user_only = 1;
        a.exclude_kernel = 1;
        fd = FDGUARD((int)sys_perf_event_open(&a, tid));
    }
    return (int)fd;
}

/* Move fd above g_fd_floor so the application's own low fds are not
 * taken (select() only handles fds below 1024). */
static int place_high(int fd)
{
    int hi;

    if (fd >= g_fd_floor)
        return fd;
    hi = FDGUARD(fcntl(fd, F_DUPFD_CLOEXEC, g_fd_floor));
    if (hi < 0)
        return fd;
    fdguard_close(fd);
    return hi;
}

static int route_signal(int fd, pid_t tid, int signo)
{
    struct f_owner_ex owner;

    owner.type = F_OWNER_TID;
    owner.pid = tid;
    /* A new perf fd has no status flags to keep: set O_ASYNC alone. */
    if (fcntl(fd, F_SETOWN_EX, &owner) != 0 || fcntl(fd, F_SETSIG, signo) ||
        fcntl(fd, F_SETFL, O_ASYNC) != 0)
        return -1;
    return 0;
}

int perf_open_thread(pid_t tid, int signo, uint64_t first_ns)
{
    int fd;

    if (atomic_fetch_add(&g_open, 1) >= g_budget) {
        atomic_fetch_sub(&g_open, 1);
        return -1;
    }
    fd = open_event(tid, first_ns);
    if (fd < 0) {
        atomic_fetch_sub(&g_open, 1);
        return -1;
    }
    fd = place_high(fd);
    if (route_signal(fd, tid, signo) != 0) {
        fdguard_close(fd);
        atomic_fetch_sub(&g_open, 1);
        return -1;
    }
    return fd;
}

int perf_enable(int fd, uint64_t first_ns)
{
    /* Disabled, so this only sets the period the enable starts with. */
    ioctl(fd, PERF_EVENT_IOC_PERIOD, &first_ns);
    /* REFRESH(1): enabled until the next overflow, which disables it
     * again and raises the signal (event_limit reached: POLL_HUP). */
    return ioctl(fd, PERF_EVENT_IOC_REFRESH, 1);
}

void perf_close_thread(int fd)
{
    if (fd < 0)
        return;
    fdguard_close(fd);
    atomic_fetch_sub(&g_open, 1);
}

void perf_rearm(int fd, uint64_t period_ns, int set_period)
{
    /* The event is disabled here (it just overflowed), so a new period
     * applies from the re-enable on. */
    if (set_period)
        ioctl(fd, PERF_EVENT_IOC_PERIOD, &period_ns);
    ioctl(fd, PERF_EVENT_IOC_REFRESH, 1);
}

int perf_open_count(void)
{
    return atomic_load(&g_open);
}

void perf_atfork_child(void)
{
    atomic_store(&g_open, 0);
}

static void set_budget(int budget)
{
    struct rlimit rl;
    long cur = 1024;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        cur = (long)rl.rlim_cur;
    if (cur > (1 << 20))
        cur = 1 << 20;
    /* At most an eighth of the fd limit, in its top part. */
    g_budget = budget > 0 ? budget : (int)(cur / 8);
    if (g_budget > MAX_BUDGET)
        g_budget = MAX_BUDGET;
    /* Just above select()'s range when the limit leaves room: fork()
     * copies the descriptor table up to the highest open number, and near
     * a container's limit (often 1048576) that is megabytes per fork. */
    g_fd_floor = cur >= FD_SETSIZE + g_budget + 16
                     ? FD_SETSIZE
                     : (int)(cur - g_budget - 16);
    if (g_fd_floor < 3)
        g_fd_floor = 3;
}

/* PYROSCOPE_CPU_SOURCE=timer (or posix) asks for POSIX timers only. */
static int perf_unwanted(void)
{
    const char *e = getenv("PYROSCOPE_CPU_SOURCE");

    return e && (!strcmp(e, "timer") || !strcmp(e, "posix"));
}

void perf_reserve_fds(void)
{
    int fd;

    if (perf_unwanted())
        return;
    set_budget(0);
    fd = fcntl(0, F_DUPFD_CLOEXEC, g_fd_floor + 64);
    if (fd < 0)
        fd = fcntl(1, F_DUPFD_CLOEXEC, g_fd_floor + 64);
    if (fd >= 0)
        close(fd); /* never marked: fdguard_close is not needed */
}

int perf_probe(int signo, int budget)
{
    int fd;

    if (perf_unwanted())
        return 0;
    g_user_only = 0;
    set_budget(budget);
    if (g_budget <= 0)
        return 0;
    fd = open_event((pid_t)syscall(SYS_gettid), 1000000000ull);
    if (fd < 0) {
        /* perf_event_paranoid 3, seccomp, a container without perf. */
        LOG_INFO("perf events unavailable (%s); CPU timers tick-bound",
                 strerror(errno));
        return 0;
    }
    fdguard_close(fd);
    (void)signo;
    LOG_DEBUG("sampling with perf task-clock events (%s, up to %d fds)",
              g_user_only ? "user time only" : "user+kernel", g_budget);
    return 1;
}
