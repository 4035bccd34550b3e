/*
 * close interposition (fd_hooks.c): the exported close, close_range and
 * closefrom skip the descriptors fdguard marks as ours and close the rest
 * through the next definitions.  Nothing to call: defining the symbols is
 * the interface.
 */
#ifndef PYROSCOPE_HOOKS_FD_HOOKS_H
#define PYROSCOPE_HOOKS_FD_HOOKS_H
#endif
