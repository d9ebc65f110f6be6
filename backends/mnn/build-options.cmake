# MNN's build options for x86_64, read by cmake as the toolchain file of mnn-sys's build (.cargo/config.toml).
# MNN builds SSE and AVX2 kernels by default and picks among them by what the CPU has, at run time; AVX-512
# (and AVX-512 VNNI for int8) kernels are off by default, and turned on here so that CPUs that have AVX-512 use
# them. The compiler only has to know the instructions; the CPU building it need not have them.
set(MNN_AVX512 ON CACHE BOOL "MNN's AVX-512 kernels, chosen at run time on CPUs that have them")
