//! Who is on the other end of a pipe: the Windows user (SID) of the client's
//! process, compared with the daemon's own on every accept (ADR 0032).
//!
//! The pipe's DACL already admits only the owner and SYSTEM; this check is the
//! second gate, the Windows counterpart of the Unix peer-uid check. The
//! client's process id comes from `GetNamedPipeClientProcessId`, its user from
//! `OpenProcess` → `OpenProcessToken` → `GetTokenInformation(TokenUser)`,
//! compared with `EqualSid`. [`judge`] is the decision, kept apart from the
//! Win32 calls so every branch can be tested.
#![allow(unsafe_code)]

use std::fmt;
use std::io;

use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, HANDLE, HLOCAL};
use windows_sys::Win32::Security::Authorization::{ConvertSidToStringSidW, ConvertStringSidToSidW};
use windows_sys::Win32::Security::{
    CopySid, EqualSid, GetLengthSid, GetTokenInformation, IsValidSid, TokenUser, PSID, TOKEN_QUERY,
    TOKEN_USER,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// A security identifier (a user's SID), copied out of Windows' buffers.
#[derive(Clone)]
pub struct Sid {
    /// The SID's bytes, in `u32` units so the structure is aligned.
    words: Vec<u32>,
}

impl Sid {
    /// The user this process runs as.
    pub fn current() -> io::Result<Self> {
        // SAFETY: the pseudo handle of the current process needs no closing.
        token_user(unsafe { GetCurrentProcess() })
    }

    /// The user the process `pid` runs as.
    pub fn of_process(pid: u32) -> io::Result<Self> {
        // SAFETY: a plain call; the handle is closed below.
        let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if process.is_null() {
            return Err(io::Error::last_os_error());
        }
        let sid = token_user(process);
        // SAFETY: `process` was opened above and is closed once.
        unsafe { CloseHandle(process) };
        sid
    }

    /// A SID from its string form (`S-1-5-18`).
    pub fn parse(text: &str) -> io::Result<Self> {
        let wide: Vec<u16> = text.encode_utf16().chain(std::iter::once(0)).collect();
        let mut sid: PSID = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; `sid` is a local out pointer.
        if unsafe { ConvertStringSidToSidW(wide.as_ptr(), &mut sid) } == 0 || sid.is_null() {
            return Err(io::Error::last_os_error());
        }
        let copy = copy_sid(sid);
        // SAFETY: allocated by ConvertStringSidToSidW with LocalAlloc.
        unsafe { LocalFree(sid as HLOCAL) };
        copy
    }

    fn as_psid(&self) -> PSID {
        self.words.as_ptr() as PSID
    }
}

impl PartialEq for Sid {
    fn eq(&self, other: &Self) -> bool {
        // SAFETY: both are valid SIDs (checked when copied); EqualSid only reads.
        unsafe { EqualSid(self.as_psid(), other.as_psid()) != 0 }
    }
}

impl Eq for Sid {}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: a valid SID; `text` is a local out pointer.
        if unsafe { ConvertSidToStringSidW(self.as_psid(), &mut text) } == 0 || text.is_null() {
            return f.write_str("S-?");
        }
        // SAFETY: a NUL-terminated string from ConvertSidToStringSidW.
        let s = unsafe {
            let mut n = 0;
            while *text.add(n) != 0 {
                n += 1;
            }
            String::from_utf16_lossy(std::slice::from_raw_parts(text, n))
        };
        // SAFETY: allocated by ConvertSidToStringSidW with LocalAlloc.
        unsafe { LocalFree(text as HLOCAL) };
        f.write_str(&s)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

/// Copy the SID at `sid` into an owned, aligned buffer.
fn copy_sid(sid: PSID) -> io::Result<Sid> {
    // SAFETY: `sid` comes from a Win32 call that returned it as valid; it is
    // checked before its length is read.
    unsafe {
        if IsValidSid(sid) == 0 {
            return Err(io::Error::other("invalid SID"));
        }
        let len = GetLengthSid(sid);
        let mut words = vec![0u32; (len as usize).div_ceil(4)];
        if CopySid(len, words.as_mut_ptr() as PSID, sid) == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Sid { words })
    }
}

/// The user SID of the token of `process`.
fn token_user(process: HANDLE) -> io::Result<Sid> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is a live process handle; `token` a local out pointer.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let result = (|| {
        let mut needed = 0u32;
        // SAFETY: a size query with no buffer, as documented.
        unsafe { GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut needed) };
        if needed == 0 {
            return Err(io::Error::last_os_error());
        }
        // u64 units: TOKEN_USER holds a pointer.
        let mut buf = vec![0u64; (needed as usize).div_ceil(8)];
        // SAFETY: `buf` is at least `needed` bytes and aligned for TOKEN_USER.
        if unsafe {
            GetTokenInformation(
                token,
                TokenUser,
                buf.as_mut_ptr().cast(),
                (buf.len() * 8) as u32,
                &mut needed,
            )
        } == 0
        {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the call filled `buf` with a TOKEN_USER whose SID points
        // inside `buf`, which is alive while the SID is copied.
        let user = unsafe { &*(buf.as_ptr() as *const TOKEN_USER) };
        copy_sid(user.User.Sid)
    })();
    // SAFETY: opened above, closed once.
    unsafe { CloseHandle(token) };
    result
}

/// What an accept does with a pipe client.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The client runs as the daemon's user: served.
    Same {
        /// The client's process id.
        pid: u32,
        /// Its user.
        user: Sid,
    },
    /// The client runs as another user: closed at once, nothing answered.
    OtherUser {
        /// The client's process id.
        pid: u32,
        /// Its user.
        user: Sid,
    },
    /// The client's user could not be read (its process gone already, or one
    /// this user may not query, such as an elevated process of the same user
    /// seen from a non-elevated daemon). The DACL admitted it, so it is the
    /// pipe's owner or SYSTEM: served, and logged as unknown.
    Unknown {
        /// The client's process id, when known.
        pid: Option<u32>,
        /// Why the user is unknown.
        reason: String,
    },
}

/// Judge a client from its process id and a way to read a process's user.
pub fn judge(
    own: &Sid,
    pid: io::Result<u32>,
    user_of: impl FnOnce(u32) -> io::Result<Sid>,
) -> Verdict {
    let pid = match pid {
        Ok(p) => p,
        Err(e) => {
            return Verdict::Unknown {
                pid: None,
                reason: format!("GetNamedPipeClientProcessId: {e}"),
            }
        }
    };
    match user_of(pid) {
        Ok(user) if &user == own => Verdict::Same { pid, user },
        Ok(user) => Verdict::OtherUser { pid, user },
        Err(e) => Verdict::Unknown {
            pid: Some(pid),
            reason: format!("cannot read the user of process {pid}: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = "S-1-5-18";

    #[test]
    fn this_process_and_a_child_run_as_the_same_user() {
        let me = Sid::current().expect("own SID");
        assert!(me.to_string().starts_with("S-1-"), "{me}");
        assert_eq!(Sid::of_process(std::process::id()).expect("by pid"), me);
    }

    #[test]
    fn sids_parse_print_and_compare() {
        let system = Sid::parse(SYSTEM).expect("parse");
        assert_eq!(system.to_string(), SYSTEM);
        assert_ne!(Sid::current().expect("own"), system);
        assert!(Sid::parse("not a sid").is_err());
    }

    #[test]
    fn the_verdict_for_each_case() {
        let me = Sid::current().expect("own");
        let system = Sid::parse(SYSTEM).expect("parse");
        assert_eq!(
            judge(&me, Ok(7), |_| Ok(me.clone())),
            Verdict::Same {
                pid: 7,
                user: me.clone()
            }
        );
        // Another user (here SYSTEM) is refused even though the DACL lets it in.
        assert_eq!(
            judge(&me, Ok(8), |_| Ok(system.clone())),
            Verdict::OtherUser {
                pid: 8,
                user: system.clone()
            }
        );
        match judge(&me, Ok(9), |_| Err(io::Error::from_raw_os_error(5))) {
            Verdict::Unknown { pid, reason } => {
                assert_eq!(pid, Some(9));
                assert!(reason.contains("process 9"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
        let called = std::cell::Cell::new(false);
        match judge(&me, Err(io::Error::from_raw_os_error(6)), |_| {
            called.set(true);
            Ok(me.clone())
        }) {
            Verdict::Unknown { pid: None, .. } => {}
            v => panic!("{v:?}"),
        }
        assert!(!called.get());
        // A process that does not exist has no user.
        assert!(Sid::of_process(0xFFFF_FFF0).is_err());
    }
}
