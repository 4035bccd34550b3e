#include "hooks.h"

/* Heap and lock interposition arrive with issue 4; until then the enabled
 * profile types other than CPU record nothing. */
void hooks_enable(pyroscope *p, ring *r)
{
    (void)p;
    (void)r;
}

void hooks_disable(void)
{
}
