//! The Win32 security calls behind the Windows endpoint: the owner-only
//! security descriptor given to every pipe instance, and reading a pipe's
//! DACL back as SDDL (for `synapsed doctor` and the tests).
//!
//! The only `unsafe` in the transport lives here; each call is a plain
//! Win32 function on pointers this module owns.
#![allow(unsafe_code)]

use std::io;
use std::os::windows::io::RawHandle;

use windows_sys::Win32::Foundation::{LocalFree, HLOCAL};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES,
};

/// The DACL every pipe instance gets: protected (no inherited entries), full
/// access for the owner and for SYSTEM, nobody else.
pub const OWNER_ONLY_SDDL: &str = "D:P(A;;GA;;;OW)(A;;GA;;;SY)";

/// A self-relative security descriptor built from [`OWNER_ONLY_SDDL`], freed on drop.
#[derive(Debug)]
pub struct OwnerOnly {
    descriptor: PSECURITY_DESCRIPTOR,
}

// The descriptor is immutable after creation and only read by CreateNamedPipeW.
unsafe impl Send for OwnerOnly {}
unsafe impl Sync for OwnerOnly {}

impl OwnerOnly {
    /// Build the descriptor.
    pub fn new() -> io::Result<Self> {
        let sddl = wide(OWNER_ONLY_SDDL);
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated and outlives the call; the out
        // pointer is a local.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 || descriptor.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { descriptor })
    }

    /// `SECURITY_ATTRIBUTES` pointing at the descriptor (valid while `self` lives).
    pub fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.descriptor,
            bInheritHandle: 0,
        }
    }
}

impl Drop for OwnerOnly {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.descriptor as HLOCAL) };
    }
}

/// The DACL of the kernel object behind `handle`, as SDDL (`D:P(A;;GA;;;OW)...`).
///
/// The handle needs `READ_CONTROL`, which a pipe client opened for reading has.
pub fn dacl_sddl(handle: RawHandle) -> io::Result<String> {
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: every out pointer is a local or null as documented.
    let status = unsafe {
        GetSecurityInfo(
            handle,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let mut text: *mut u16 = std::ptr::null_mut();
    let mut len: u32 = 0;
    // SAFETY: `descriptor` came from GetSecurityInfo; out pointers are locals.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            &mut len,
        )
    };
    let result = if ok == 0 || text.is_null() {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: the call returned a NUL-terminated string of `len` units.
        let units = unsafe { std::slice::from_raw_parts(text, len as usize) };
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        Ok(String::from_utf16_lossy(&units[..end]))
    };
    // SAFETY: both were allocated by the calls above with LocalAlloc.
    unsafe {
        if !text.is_null() {
            LocalFree(text as HLOCAL);
        }
        LocalFree(descriptor as HLOCAL);
    }
    result
}

/// The process id of the client connected to a pipe server handle.
pub fn client_process_id(handle: RawHandle) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: `handle` is a live pipe server handle; `pid` is a local.
    let ok =
        unsafe { windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId(handle, &mut pid) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}
