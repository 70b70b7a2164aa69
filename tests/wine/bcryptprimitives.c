/* ProcessPrng for Wine 8 (Debian 12), which has no bcryptprimitives.dll. Rust's standard
 * library has drawn its random numbers from bcryptprimitives!ProcessPrng since Rust 1.78, so
 * no Rust program starts under that Wine. Windows 10 and later have the DLL; only the Wine
 * tests install this one, built by tests/src/wine.rs with mingw-w64, into their own prefix.
 * It answers with RtlGenRandom (advapi32!SystemFunction036), which Wine has. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
