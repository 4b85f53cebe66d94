/*
 * Stand-in launcher for Workstation's command-line tools in the Windows test tier.
 * Compiled (x86_64-w64-mingw32-gcc) once per name: vmware-vdiskmanager.exe, vmrun.exe.
 * It runs `<node.exe> <folder of this exe>\<this exe's name>.mjs <its own arguments, verbatim>` and exits
 * with that program's exit code, so kubestation starts a real .exe (no shell, as on a real host) while the
 * tool's behaviour lives in a small JavaScript file beside it. node.exe is KUBESTATION_STANDIN_NODE.
 */
#include <windows.h>
#include <wchar.h>

static const wchar_t *skip_program_name(const wchar_t *line) {
  if (*line == L'"') {
    line++;
    while (*line && *line != L'"') line++;
    if (*line) line++;
  } else {
    while (*line && *line != L' ' && *line != L'\t') line++;
  }
  return line; /* the arguments, with their leading separator */
}

int wmain(void) {
  wchar_t self[MAX_PATH], node[MAX_PATH];
  DWORD n = GetModuleFileNameW(NULL, self, MAX_PATH);
  if (n == 0 || n >= MAX_PATH - 4) return 250;
  wchar_t *dot = wcsrchr(self, L'.');
  if (!dot) return 250;
  wcscpy(dot, L".mjs");
  DWORD m = GetEnvironmentVariableW(L"KUBESTATION_STANDIN_NODE", node, MAX_PATH);
  if (m == 0 || m >= MAX_PATH) {
    fwprintf(stderr, L"stand-in: KUBESTATION_STANDIN_NODE (the node.exe to run %ls with) is not set\n", self);
    return 251;
  }
  const wchar_t *args = skip_program_name(GetCommandLineW());
  size_t size = wcslen(node) + wcslen(self) + wcslen(args) + 16;
  wchar_t *command = HeapAlloc(GetProcessHeap(), 0, size * sizeof(wchar_t));
  if (!command) return 252;
  swprintf(command, size, L"\"%ls\" \"%ls\"%ls", node, self, args);
  STARTUPINFOW si = { sizeof si };
  PROCESS_INFORMATION pi;
  if (!CreateProcessW(NULL, command, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
    fwprintf(stderr, L"stand-in: cannot start %ls (error %lu)\n", node, GetLastError());
    return 253;
  }
  WaitForSingleObject(pi.hProcess, INFINITE);
  DWORD code = 254;
  GetExitCodeProcess(pi.hProcess, &code);
  return (int)code;
}
