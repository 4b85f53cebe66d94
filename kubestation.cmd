@echo off
rem kubestation for cmd and PowerShell: .\kubestation <command> [options]
rem Runs the compiled CLI with the arguments exactly as typed: no npm in between, so
rem PowerShell cannot drop a "--" on the way and npm's start-up is not paid on every command.
rem DisableDelayedExpansion: with delayed expansion on (cmd /v:on, or the registry's DelayedExpansion) a "!"
rem in an argument or in this folder's path would be eaten.
rem Limit of every .cmd (npm's own shims too): cmd itself reads & | < > ^ in an argument that reaches it
rem without quotes; kubestation's arguments need none of them.
setlocal EnableExtensions DisableDelayedExpansion
set "KUBESTATION_BIN=%~dp0dist\src\bin.js"
rem No parenthesised blocks: a folder such as "Program Files (x86)" would close them early.
if not exist "%KUBESTATION_BIN%" goto not_built
node "%KUBESTATION_BIN%" %*
exit /b %ERRORLEVEL%
:not_built
echo kubestation is not compiled yet: run npm ci in "%~dp0" first. 1>&2
exit /b 1
