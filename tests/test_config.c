/*
 * Bad configuration is refused with a clear code and message and nothing
 * starts; environment variables fill defaults; one profiler per process.
 */
#include <stdlib.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

static pyroscope_config base(void)
{
    pyroscope_config c = PYROSCOPE_CONFIG_INIT;

    c.application_name = "test_config";
    c.server_address = "http://127.0.0.1:1";
    c.log_level = PYROSCOPE_LOG_OFF;
    return c;
}

/* Start must fail with `code`, mention `needle`, and leave nothing running. */
static void refused(const pyroscope_config *c, int code, const char *needle)
{
    pyroscope *p = (pyroscope *)0x1;
    int rc = pyroscope_start(&p, c);

    if (rc != code)
        FAILF("[%s] expected %d (%s), got %d: %s", needle, code, pyroscope_strerror(code),
              rc, pyroscope_last_error());
    if (!strstr(pyroscope_last_error(), needle))
        FAILF("message '%s' lacks '%s'", pyroscope_last_error(), needle);
    ASSERT(p == (pyroscope *)0x1);
    ASSERT(pyroscope_current() == NULL);
}

static void test_struct_errors(void)
{
    pyroscope_config c = base();
    pyroscope_tag bad_key[] = {{"a b", "x"}}, bad_val[] = {{"k", "x,y"}};
    pyroscope_tag bad_hdr[] = {{"X-A", "v\r\nInjected: 1"}};

    ASSERT_EQ(pyroscope_start(NULL, &c), PYROSCOPE_EINVAL);
    c.version = 0;
    refused(&c, PYROSCOPE_EINVAL, "version");
    c = base(), c.version = 99;
    refused(&c, PYROSCOPE_EINVAL, "version");
    c = base(), c.application_name = NULL;
    refused(&c, PYROSCOPE_EINVAL, "application_name");
    c = base(), c.application_name = "app{x=y}";
    refused(&c, PYROSCOPE_EINVAL, "application_name");
    c = base(), c.sample_rate = 20000;
    refused(&c, PYROSCOPE_EINVAL, "sample_rate");
    c = base(), c.sample_rate = -3;
    refused(&c, PYROSCOPE_EINVAL, "sample_rate");
    c = base(), c.upload_interval_ms = 5;
    refused(&c, PYROSCOPE_EINVAL, "upload_interval_ms");
    c = base(), c.server_address = "ftp://example";
    refused(&c, PYROSCOPE_EINVAL, "server_address");
    c = base(), c.server_address = "file:///nonexistent/dir";
    refused(&c, PYROSCOPE_EINVAL, "not writable");
    c = base(), c.tags = bad_key, c.tags_count = 1;
    refused(&c, PYROSCOPE_EINVAL, "'a b'");
    c = base(), c.tags = bad_val, c.tags_count = 1;
    refused(&c, PYROSCOPE_EINVAL, "x,y");
    c = base(), c.tags = NULL, c.tags_count = 2;
    refused(&c, PYROSCOPE_EINVAL, "NULL");
    c = base(), c.http_headers = bad_hdr, c.http_headers_count = 1;
    refused(&c, PYROSCOPE_EINVAL, "X-A");
    c = base(), c.profile_types = 1u << 9;
    refused(&c, PYROSCOPE_EINVAL, "profile type");
    c = base(), c.api = 7;
    refused(&c, PYROSCOPE_EINVAL, "api");
    TEST_OK("invalid config structs refused");
}

static void env_refused(const char *name, const char *value,
                        const char *needle)
{
    pyroscope_config c = base();

    c.log_level = 0; /* an explicit field would win over the variable */
    setenv(name, value, 1);
    refused(&c, PYROSCOPE_EINVAL, needle);
    unsetenv(name);
}

static void test_env_errors(void)
{
    env_refused("PYROSCOPE_SAMPLE_RATE", "fast", "PYROSCOPE_SAMPLE_RATE");
    env_refused("PYROSCOPE_UPLOAD_INTERVAL", "5 parsecs",
                "PYROSCOPE_UPLOAD_INTERVAL");
    env_refused("PYROSCOPE_PROFILE_TYPES", "cpu,gpu", "PYROSCOPE_PROFILE_TYPES");
    env_refused("PYROSCOPE_LOG_LEVEL", "loud", "PYROSCOPE_LOG_LEVEL");
    env_refused("PYROSCOPE_LABELS", "novalue", "novalue");
    env_refused("PYROSCOPE_LABELS", "ok=1,bad key=2", "bad key");
    TEST_OK("invalid environment refused");
}

static void test_env_defaults(void)
{
    char *dir = wl_tempdir("cfg"), url[300], **files;
    pyroscope *p, *p2;
    pb_profile *prof;

    snprintf(url, sizeof(url), "file://%s", dir);
    setenv("PYROSCOPE_APPLICATION_NAME", "envapp", 1);
    setenv("PYROSCOPE_SERVER_ADDRESS", url, 1);
    setenv("PYROSCOPE_LABELS", "team=core, zone = z1", 1);
    setenv("PYROSCOPE_SAMPLE_RATE", "250", 1);
    setenv("PYROSCOPE_UPLOAD_INTERVAL", "1m", 1);
    setenv("PYROSCOPE_LOG_LEVEL", "error", 1);
    ASSERT_EQ(pyroscope_start(&p, NULL), 0);
    ASSERT(pyroscope_current() == p);
    ASSERT_EQ(pyroscope_start(&p2, NULL), PYROSCOPE_EBUSY);
    work_alpha(0.2);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    ASSERT(pyroscope_current() == NULL);
    files = wl_list(dir, "envapp.cpu.");
    ASSERT(files[0] != NULL);
    prof = decode_profile_file(files[0]);
    ASSERT(prof != NULL);
    ASSERT_EQ(prof->period, 1000000000 / 250);
    ASSERT(pb_sum_with_label(prof, 0, "work_alpha", "team", "core") > 0);
    ASSERT(pb_sum_with_label(prof, 0, "work_alpha", "zone", "z1") > 0);
    decode_free(prof);
    wl_free_list(files);
    free(dir);
    TEST_OK("environment fills defaults");
}

static void test_misc(void)
{
    pyroscope_config c;

    pyroscope_stop(NULL); /* documented no-op */
    ASSERT_EQ(pyroscope_config_init(NULL, 1), PYROSCOPE_EINVAL);
    ASSERT_EQ(pyroscope_config_init(&c, PYROSCOPE_CONFIG_VERSION + 1), PYROSCOPE_EINVAL);
    ASSERT_EQ(pyroscope_config_init(&c, PYROSCOPE_CONFIG_VERSION), 0);
    ASSERT_EQ(c.version, PYROSCOPE_CONFIG_VERSION);
    ASSERT_STR_EQ(pyroscope_strerror(PYROSCOPE_EBUSY),
                  "profiler already running in this process");
    ASSERT_STR_EQ(pyroscope_strerror(12345), "unknown error");
    ASSERT_EQ(pyroscope_version_number(), PYROSCOPE_VERSION_NUMBER);
    ASSERT_STR_EQ(pyroscope_version(), PYROSCOPE_VERSION_STRING);
    TEST_OK("misc API contracts");
}

int main(void)
{
    test_struct_errors();
    test_env_errors();
    test_env_defaults();
    test_misc();
    return 0;
}
