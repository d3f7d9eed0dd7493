// libhdf5's C API. Debian keeps the serial build's headers under hdf5/serial (pkg-config "hdf5" adds that path;
// the fallback keeps builds working where pkg-config is missing).
#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#else
#include <hdf5.h>
#endif
