//! The part of NCNN's C API (`c_api.h`) the backend calls. Handles are opaque pointers; every one created
//! here is destroyed by the wrapper that owns it (see `lib.rs`).

use std::ffi::{c_char, c_int, c_void};

pub type Net = *mut c_void;
pub type Options = *mut c_void;
pub type Extractor = *mut c_void;
pub type Mat = *mut c_void;
pub type Allocator = *mut c_void;

extern "C" {
    pub fn ncnn_version() -> *const c_char;

    pub fn ncnn_option_create() -> Options;
    pub fn ncnn_option_destroy(options: Options);
    pub fn ncnn_option_get_num_threads(options: Options) -> c_int;
    pub fn ncnn_option_set_num_threads(options: Options, threads: c_int);
    pub fn ncnn_option_get_use_fp16_storage(options: Options) -> c_int;
    pub fn ncnn_option_set_use_fp16_storage(options: Options, enable: c_int);
    pub fn ncnn_option_get_use_fp16_packed(options: Options) -> c_int;
    pub fn ncnn_option_set_use_fp16_packed(options: Options, enable: c_int);
    pub fn ncnn_option_get_use_fp16_arithmetic(options: Options) -> c_int;
    pub fn ncnn_option_set_use_fp16_arithmetic(options: Options, enable: c_int);
    pub fn ncnn_option_get_use_bf16_storage(options: Options) -> c_int;
    pub fn ncnn_option_set_use_bf16_storage(options: Options, enable: c_int);
    pub fn ncnn_option_set_use_vulkan_compute(options: Options, enable: c_int);

    pub fn ncnn_net_create() -> Net;
    pub fn ncnn_net_destroy(net: Net);
    pub fn ncnn_net_set_option(net: Net, options: Options);
    pub fn ncnn_net_load_param(net: Net, path: *const c_char) -> c_int;
    pub fn ncnn_net_load_model(net: Net, path: *const c_char) -> c_int;
    pub fn ncnn_net_get_input_count(net: Net) -> c_int;
    pub fn ncnn_net_get_output_count(net: Net) -> c_int;
    pub fn ncnn_net_get_input_name(net: Net, index: c_int) -> *const c_char;
    pub fn ncnn_net_get_output_name(net: Net, index: c_int) -> *const c_char;

    pub fn ncnn_extractor_create(net: Net) -> Extractor;
    pub fn ncnn_extractor_destroy(extractor: Extractor);
    pub fn ncnn_extractor_input(extractor: Extractor, name: *const c_char, mat: Mat) -> c_int;
    pub fn ncnn_extractor_extract(
        extractor: Extractor,
        name: *const c_char,
        mat: *mut Mat,
    ) -> c_int;

    pub fn ncnn_mat_create_1d(w: c_int, allocator: Allocator) -> Mat;
    pub fn ncnn_mat_create_2d(w: c_int, h: c_int, allocator: Allocator) -> Mat;
    pub fn ncnn_mat_create_3d(w: c_int, h: c_int, c: c_int, allocator: Allocator) -> Mat;
    pub fn ncnn_mat_create_4d(w: c_int, h: c_int, d: c_int, c: c_int, allocator: Allocator) -> Mat;
    pub fn ncnn_mat_destroy(mat: Mat);
    pub fn ncnn_mat_get_dims(mat: Mat) -> c_int;
    pub fn ncnn_mat_get_w(mat: Mat) -> c_int;
    pub fn ncnn_mat_get_h(mat: Mat) -> c_int;
    pub fn ncnn_mat_get_d(mat: Mat) -> c_int;
    pub fn ncnn_mat_get_c(mat: Mat) -> c_int;
    pub fn ncnn_mat_get_elemsize(mat: Mat) -> usize;
    pub fn ncnn_mat_get_channel_data(mat: Mat, channel: c_int) -> *mut c_void;
}
