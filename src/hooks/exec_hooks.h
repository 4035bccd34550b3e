/*
 * exec* interposition (exec_hooks.c): the exported execve, execv, execvp,
 * execvpe, execl, execlp, execle, fexecve and execveat wrap the next
 * definitions so that no CPU-time signal of ours outlives the old image.
 * Nothing to call: defining the symbols is the interface.
 */
#ifndef PYROSCOPE_HOOKS_EXEC_HOOKS_H
#define PYROSCOPE_HOOKS_EXEC_HOOKS_H
#endif
