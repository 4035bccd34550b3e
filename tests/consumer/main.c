#include <pyroscope.h>
#include <stdio.h>

int main(void)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;

    cfg.application_name = "consumer";
    cfg.server_address = "http://127.0.0.1:9";
    cfg.log_level = PYROSCOPE_LOG_OFF;
    if (pyroscope_start(&p, &cfg) != 0)
        return 1;
    pyroscope_stop(p);
    printf("consumer ok, library %s\n", pyroscope_version());
    return pyroscope_version_number() == PYROSCOPE_VERSION_NUMBER ? 0 : 1;
}
