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
static inline hid_t modelkit_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t modelkit_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t modelkit_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t modelkit_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t modelkit_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t modelkit_h5t_ieee_f32be(void) { return H5T_IEEE_F32BE; }
static inline hid_t modelkit_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t modelkit_h5t_ieee_f64be(void) { return H5T_IEEE_F64BE; }
static inline hid_t modelkit_h5t_c_s1(void) { return H5T_C_S1; }
static inline size_t modelkit_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned modelkit_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned modelkit_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }

// A key that identifies an object within its file, for cycle detection: the file number and the object's address
// (HDF5 1.10) or token (1.12 and later), copied into 16 bytes. Returns a negative value on failure.
static inline herr_t modelkit_h5o_identity(hid_t object, unsigned long *fileno, unsigned char key[16]) {
    memset(key, 0, 16);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    herr_t status = H5Oget_info3(object, &info, H5O_INFO_BASIC);
    if (status < 0) return status;
    *fileno = info.fileno;
    memcpy(key, &info.token, sizeof(info.token) < 16 ? sizeof(info.token) : 16);
#else
    H5O_info_t info;
    herr_t status = H5Oget_info2(object, &info, H5O_INFO_BASIC);
    if (status < 0) return status;
    *fileno = info.fileno;
    memcpy(key, &info.addr, sizeof(info.addr));
#endif
    return 0;
}

// The type of the object `name` names under `group`, without following it twice: 0 group, 1 dataset, 2 named
// datatype, -1 anything else or an error (a dangling soft or external link included).
static inline int modelkit_h5o_kind(hid_t group, const char *name) {
    if (H5Lexists(group, name, H5P_DEFAULT) <= 0) return -1;
    H5L_info_t link;
    if (H5Lget_info(group, name, &link, H5P_DEFAULT) < 0) return -1;
    if (link.type != H5L_TYPE_HARD) return -2;
    if (H5Oexists_by_name(group, name, H5P_DEFAULT) <= 0) return -1;
    hid_t object = H5Oopen(group, name, H5P_DEFAULT);
    if (object < 0) return -1;
    H5I_type_t type = H5Iget_type(object);
    H5Oclose(object);
    switch (type) {
    case H5I_GROUP: return 0;
    case H5I_DATASET: return 1;
    case H5I_DATATYPE: return 2;
    default: return -1;
    }
}

// How many files, groups, datasets, datatypes and attributes are open in the whole process (tests check that every
// read closes what it opened).
static inline ssize_t modelkit_h5_open_object_count(void) { return H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL); }

// Variable-length strings read as their on-disk references (sequence length, heap address, object index) instead of
// through libhdf5's global heap code, which trusts the index (Specs/interop/keras.md, K23): a soft conversion from
// variable-length data to an opaque type tagged MODELKIT_RAW_VLEN_TAG of the same size that leaves the bytes as
// they are. libhdf5 copies an attribute's stored bytes into the conversion buffer, so the references come out raw.
#define MODELKIT_RAW_VLEN_TAG "modelkit: variable-length references as stored"

static herr_t modelkit_raw_vlen_conversion(hid_t source, hid_t destination, H5T_cdata_t *cdata, size_t count,
                                           size_t buffer_stride, size_t background_stride, void *buffer,
                                           void *background, hid_t transfer) {
    (void)count; (void)buffer_stride; (void)background_stride; (void)buffer; (void)background; (void)transfer;
    switch (cdata->command) {
    case H5T_CONV_INIT: {
        cdata->need_bkg = H5T_BKG_NO;
        if (H5Tget_class(destination) != H5T_OPAQUE) return -1;
        char *tag = H5Tget_tag(destination);
        int ours = tag != NULL && strcmp(tag, MODELKIT_RAW_VLEN_TAG) == 0;
        if (tag != NULL) H5free_memory(tag);
        if (!ours) return -1;
        H5T_class_t kind = H5Tget_class(source);
        if (kind != H5T_VLEN && !(kind == H5T_STRING && H5Tis_variable_str(source) > 0)) return -1;
        return H5Tget_size(source) == H5Tget_size(destination) ? 0 : -1;
    }
    case H5T_CONV_CONV: return 0;
    case H5T_CONV_FREE: return 0;
    default: return -1;
    }
}

// Registers the conversion above once per process (libhdf5 keeps soft conversions until it closes).
static inline herr_t modelkit_register_raw_vlen(void) {
    hid_t source = H5Tcopy(H5T_C_S1);
    if (source < 0) return -1;
    hid_t destination = H5Tcreate(H5T_OPAQUE, 16);
    herr_t status = -1;
    if (destination >= 0 && H5Tset_size(source, H5T_VARIABLE) >= 0 && H5Tset_tag(destination, MODELKIT_RAW_VLEN_TAG) >= 0) {
        status = H5Tregister(H5T_PERS_SOFT, "modelkit raw vlen", source, destination, modelkit_raw_vlen_conversion);
    }
    if (destination >= 0) H5Tclose(destination);
    H5Tclose(source);
    return status;
}

// An opaque type of `size` bytes tagged MODELKIT_RAW_VLEN_TAG (the destination of the conversion above).
static inline hid_t modelkit_raw_vlen_type(size_t size) {
    hid_t type = H5Tcreate(H5T_OPAQUE, size);
    if (type < 0) return type;
    if (H5Tset_tag(type, MODELKIT_RAW_VLEN_TAG) < 0) { H5Tclose(type); return -1; }
    return type;
}
