/*
 * Stripped binaries.  The test copies itself, keeps the debug info apart
 * with `objcopy --only-keep-debug`, strips the copy and runs it:
 *   - with a .gnu_debuglink next to it, and
 *   - with the debug file under a .build-id tree (PYROSCOPE_DEBUG_DIRS),
 * the profile names the static function and its source file, which only
 * the debug file knows; with no debug file, the function goes unnamed but
 * the main mapping carries the binary's GNU build ID, so a server with
 * symbols (Pyroscope's debuginfod symbolization) can resolve it.
 *
 *   test_symbols             run the checks
 *   test_symbols --child DIR profile stripped_hot into file://DIR
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"
#include "symbols/elf.h"

static volatile uint64_t sink;

/* static: absent from .dynsym, so only .symtab (or a debug file) names it */
__attribute__((noinline, noclone)) static void stripped_hot(double seconds)
{
    double end = wl_thread_cpu() + seconds;
    uint64_t x = 1;

    while (wl_thread_cpu() < end)
        for (int i = 0; i < 100000; i++)
            x = x * 6364136223846793005ull + 1;
    sink += x;
}

static int child(const char *dir)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[600];
    pyroscope *p;

    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_symbols";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    if (pyroscope_start(&p, &cfg) != 0)
        return 1;
    stripped_hot(0.3);
    pyroscope_flush(p, 10000);
    pyroscope_stop(p);
    return 0;
}

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), fmt, a, b);
    if (system(cmd) != 0)
        FAILF("command failed: %s", cmd);
}

/* Run `exe --child` with env `env` (or none); return its decoded profile. */
static pb_profile *run(const char *exe, const char *env)
{
    char *out = wl_tempdir("symout"), **files;
    char cmd[2048];
    pb_profile *p;

    snprintf(cmd, sizeof(cmd), "%s %s --child %s", env ? env : "", exe, out);
    if (system(cmd) != 0)
        FAILF("child failed: %s", cmd);
    files = wl_list(out, ".cpu.");
    ASSERT(files && files[0]);
    p = decode_profile_file(files[0]);
    ASSERT(p != NULL);
    wl_free_list(files);
    free(out);
    return p;
}

static void expect_named(pb_profile *p, const char *how)
{
    const char *file = pb_function_file(p, "stripped_hot");
    int vi = pb_type_index(p, "samples");

    if (pb_sum_with(p, vi, "stripped_hot") <= 0)
        FAILF("%s: stripped_hot not named", how);
    if (!file || !strstr(file, "test_symbols.c"))
        FAILF("%s: stripped_hot's file is %s", how, file ? file : "(none)");
    ASSERT(pb_max_line(p, "stripped_hot") > 0);
    printf("ok - %s: stripped_hot named, %s:%lld\n", how, file,
           (long long)pb_max_line(p, "stripped_hot"));
}

static const char *main_build_id(pb_profile *p)
{
    ASSERT(p->n_mapping > 0);
    return pb_string(p, p->mapping[0]->build_id);
}

int main(int argc, char **argv)
{
    char *dir, exe[600], dbg[600], id[130], bid_dir[700], bid_file[800];
    char env[800];
    elf_file f;
    pb_profile *p;

    if (argc == 3 && !strcmp(argv[1], "--child"))
        return child(argv[2]);
    dir = wl_tempdir("stripped");
    snprintf(exe, sizeof(exe), "%s/app", dir);
    snprintf(dbg, sizeof(dbg), "%s/app.debug", dir);
    {
        char self[600];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        ASSERT(n > 0);
        self[n] = '\0';
        sh("cp %s %s", self, exe);
    }
    sh("objcopy --only-keep-debug %s %s", exe, dbg);
    sh("strip --strip-all %s%s", exe, "");
    ASSERT_EQ(elf_open(&f, exe), 0);
    ASSERT_EQ(elf_build_id(f.map, f.len, id, sizeof(id)), 0);
    {
        elf_sect s;
        ASSERT(elf_section(f.map, f.len, ".symtab", &s, NULL) != 0);
    }
    elf_close(&f);

    /* No debug file anywhere: unnamed, but the build ID travels. */
    p = run(exe, "PYROSCOPE_DEBUG_DIRS=/nonexistent");
    ASSERT(pb_sum_with(p, pb_type_index(p, "samples"), "stripped_hot") == 0);
    ASSERT_STR_EQ(main_build_id(p), id);
    decode_free(p);
    printf("ok - stripped, no debug file: main mapping has build id %s\n", id);

    /* .gnu_debuglink next to the binary. */
    sh("cd %s && objcopy --add-gnu-debuglink=app.debug app%s", dir, "");
    p = run(exe, "PYROSCOPE_DEBUG_DIRS=/nonexistent");
    expect_named(p, "debuglink");
    decode_free(p);

    /* Build-id tree under a debug root; no debuglink to fall back on. */
    sh("objcopy --remove-section=.gnu_debuglink %s%s", exe, "");
    snprintf(bid_dir, sizeof(bid_dir), "%s/root/.build-id/%.2s", dir, id);
    snprintf(bid_file, sizeof(bid_file), "%s/%s.debug", bid_dir, id + 2);
    sh("mkdir -p %s%s", bid_dir, "");
    sh("mv %s %s", dbg, bid_file);
    snprintf(env, sizeof(env), "PYROSCOPE_DEBUG_DIRS=/nonexistent:%s/root",
             dir);
    p = run(exe, env);
    expect_named(p, "build-id");
    decode_free(p);
    free(dir);
    return 0;
}
