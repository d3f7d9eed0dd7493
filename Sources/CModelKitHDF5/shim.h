// libhdf5's C API. Debian keeps the serial build's headers under hdf5/serial (pkg-config "hdf5" adds that path;
// the fallback keeps builds working where pkg-config is missing).
#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#else
#include <hdf5.h>
#endif
#include <string.h>

// HDF5 spells many constants as macros that call H5open() or cast (`(H5OPEN H5T_NATIVE_FLOAT_g)`, `(hid_t)0`);
// Swift imports none of those, so each one is exposed through a small inline function.
static inline hid_t modelkit_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t modelkit_h5s_all(void) { return H5S_ALL; }
static inline hid_t modelkit_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t modelkit_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t modelkit_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t modelkit_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t modelkit_h5t_c_s1(void) { return H5T_C_S1; }
static inline size_t modelkit_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned modelkit_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
