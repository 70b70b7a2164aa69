//! What a process's access token says: the account it runs as (SID and `DOMAIN\name`) and its
//! mandatory integrity level. Resolved here rather than by sysinfo's user list, whose refresh
//! panics under Wine (see `table.rs`).

use std::collections::HashMap;
use std::ptr::{null, null_mut};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows_sys::Win32::Security::{
    GetSidSubAuthority, GetSidSubAuthorityCount, GetTokenInformation, LookupAccountSidW, PSID, SID_NAME_USE,
    TOKEN_INFORMATION_CLASS, TOKEN_MANDATORY_LABEL, TOKEN_QUERY, TOKEN_USER, TokenIntegrityLevel, TokenUser,
};
use windows_sys::Win32::System::Threading::{OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION};

/// Account names remembered, by SID; past it the cache starts over.
const MAX_CACHED_ACCOUNTS: usize = 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct TokenFacts {
    /// The user's SID as text (`S-1-5-18`).
    pub(super) sid: Option<String>,
    /// The user as `DOMAIN\name` (`NT AUTHORITY\SYSTEM`), when the SID resolves.
    pub(super) account: Option<String>,
    /// The last sub-authority of the mandatory label (`0x2000` is medium).
    pub(super) integrity_rid: Option<u32>,
}

/// Reads tokens, remembering the account name of each SID.
#[derive(Default)]
pub(super) struct Tokens {
    accounts: HashMap<String, Option<String>>,
}

impl Tokens {
    /// What the token of process `pid` says; empty when the process is gone or its token
    /// cannot be opened (protected processes, for an agent that is not SYSTEM).
    pub(super) fn facts(&mut self, pid: u32) -> TokenFacts {
        let Some(token) = open_token(pid) else {
            return TokenFacts::default();
        };
        let mut facts = TokenFacts::default();
        if let Some(buffer) = information(&token, TokenUser) {
            // SAFETY: GetTokenInformation(TokenUser) filled the aligned buffer with a TOKEN_USER
            // whose SID points into the same buffer.
            let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
            if let Some(text) = sid_string(sid) {
                if self.accounts.len() >= MAX_CACHED_ACCOUNTS {
                    self.accounts.clear();
                }
                let account = self.accounts.entry(text.clone()).or_insert_with(|| account_name(sid)).clone();
                facts = TokenFacts { sid: Some(text), account, integrity_rid: None };
            }
        }
        if let Some(buffer) = information(&token, TokenIntegrityLevel) {
            // SAFETY: as above, a TOKEN_MANDATORY_LABEL.
            let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_MANDATORY_LABEL>()).Label.Sid };
            facts.integrity_rid = last_sub_authority(sid);
        }
        facts
    }
}

struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by us and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

fn open_token(pid: u32) -> Option<Handle> {
    // SAFETY: plain calls; every handle returned is owned by a `Handle`.
    unsafe {
        let process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if process.is_null() {
            return None;
        }
        let process = Handle(process);
        let mut token = null_mut();
        (OpenProcessToken(process.0, TOKEN_QUERY, &mut token) != 0).then(|| Handle(token))
    }
}

/// One class of token information, in a buffer aligned for the structures it holds.
fn information(token: &Handle, class: TOKEN_INFORMATION_CLASS) -> Option<Vec<u64>> {
    let mut needed = 0u32;
    // SAFETY: a size query with no buffer.
    unsafe { GetTokenInformation(token.0, class, null_mut(), 0, &mut needed) };
    if needed == 0 {
        return None;
    }
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8)];
    let len = u32::try_from(buffer.len() * 8).ok()?;
    // SAFETY: the buffer holds `len` writable bytes.
    let ok = unsafe { GetTokenInformation(token.0, class, buffer.as_mut_ptr().cast(), len, &mut needed) };
    (ok != 0).then_some(buffer)
}

fn sid_string(sid: PSID) -> Option<String> {
    let mut text = null_mut();
    // SAFETY: `sid` is valid; the string returned is freed with LocalFree.
    unsafe {
        if ConvertSidToStringSidW(sid, &mut text) == 0 || text.is_null() {
            return None;
        }
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let out = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text as HLOCAL);
        Some(out)
    }
}

/// `DOMAIN\name`, as Sysmon's `User` field shows accounts.
fn account_name(sid: PSID) -> Option<String> {
    let (mut name, mut domain) = (vec![0u16; 256], vec![0u16; 256]);
    // A second try with the sizes a short buffer asked for.
    for _ in 0..2 {
        let (mut name_len, mut domain_len) = (name.len() as u32, domain.len() as u32);
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: the buffers hold the lengths passed.
        let ok = unsafe {
            LookupAccountSidW(
                null(),
                sid,
                name.as_mut_ptr(),
                &mut name_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut kind,
            )
        };
        if ok != 0 {
            let name = String::from_utf16_lossy(&name[..name_len as usize]);
            let domain = String::from_utf16_lossy(&domain[..domain_len as usize]);
            return Some(if domain.is_empty() { name } else { format!("{domain}\\{name}") });
        }
        // On a short buffer the lengths say what is needed; otherwise the SID does not resolve.
        if (name_len as usize) <= name.len() && (domain_len as usize) <= domain.len() {
            return None;
        }
        name.resize(name_len as usize, 0);
        domain.resize(domain_len as usize, 0);
    }
    None
}

fn last_sub_authority(sid: PSID) -> Option<u32> {
    // SAFETY: `sid` is a valid SID; the index is below its sub-authority count.
    unsafe {
        let count = *GetSidSubAuthorityCount(sid);
        (count > 0).then(|| *GetSidSubAuthority(sid, u32::from(count) - 1))
    }
}
