/*
 * ProcessPrng for wine 8 (Debian 12), which lacks bcryptprimitives.dll: Rust's standard
 * library on Windows draws its random numbers from it (Windows 10 and later ship it), so
 * without this no Rust program starts under that wine. Fills the buffer from advapi32's
 * RtlGenRandom (SystemFunction036). `cargo xtask cross` builds it with mingw-w64 into the
 * directory it runs t1c.exe from under wine, never beside the t1c.exe it builds.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
