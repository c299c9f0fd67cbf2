/* Test harness only, never shipped: Rust's standard library gets random bytes
 * from ProcessPrng in bcryptprimitives.dll, which Wine 8 does not export.
 * This DLL, placed beside the test executables, provides it on top of
 * RtlGenRandom (advapi32!SystemFunction036). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
