//! Ctrl-C (SIGINT) and SIGTERM stop a run cleanly: the measurement in progress is ended, the rows already
//! written stay, and the run says it was interrupted. Worker processes live in their own process group, so
//! the terminal's Ctrl-C reaches the harness alone, which then stops them. A harness that another one drives
//! (on a target, or as a fleet's local member) also stops when its driver closes its standard input: that is
//! how a Ctrl-C at the driver, or a dropped ssh connection, reaches it.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked for the stop; 0 while none has.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// Replaces the default (die at once) with a request to stop.
pub fn install() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        for signal in [libc::SIGINT, libc::SIGTERM] {
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Stops the run, as a SIGHUP would, when standard input reaches its end: the driving harness closed it (its
/// user pressed Ctrl-C), or the connection to it was lost.
pub fn stop_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        RECEIVED.store(libc::SIGHUP, Ordering::SeqCst);
    });
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    RECEIVED.load(Ordering::SeqCst) != 0
}

/// What asked for the stop, for messages: `Ctrl-C (SIGINT)`, `SIGTERM`, or the driving harness.
pub fn cause() -> &'static str {
    match RECEIVED.load(Ordering::SeqCst) {
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "the driving harness (its Ctrl-C, or the connection to it closed)",
        _ => "Ctrl-C (SIGINT)",
    }
}

/// The exit status a shell reports for a death by the signal received: 128 + its number (130, 143; 129 for a
/// stop from the driving harness).
pub fn exit_status() -> u8 {
    128 + RECEIVED.load(Ordering::SeqCst).clamp(0, 127) as u8
}
