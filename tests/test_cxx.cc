/* The header from C++: extern "C" linkage and the RAII scope helper. */
#include <cstdio>
#include <cstdlib>

#include "pyroscope.h"

int main()
{
    static const pyroscope_tag tags[] = {{"endpoint", "/cxx"}};
    uint64_t outside = pyroscope_scope_current();
    {
        pyroscope_cxx::scope s(tags);
        if (!s.ok() || pyroscope_scope_current() == outside) {
            std::fprintf(stderr, "scope did not apply\n");
            return 1;
        }
    }
    if (pyroscope_scope_current() != outside) {
        std::fprintf(stderr, "scope did not pop\n");
        return 1;
    }
    std::printf("ok - C++ RAII scope\n");
    return 0;
}
