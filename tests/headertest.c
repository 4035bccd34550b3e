/* The public header must compile alone as strict C99 (-pedantic -Werror). */
#include "pyroscope.h"

int main(void)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;

    return pyroscope_config_init(&cfg, PYROSCOPE_CONFIG_VERSION);
}
