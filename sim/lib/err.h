/*
 * Error-carrying pointers, as in the kernel: a function that returns an
 * object can return -errno encoded in the pointer instead.  Only the top
 * 4095 addresses are used, which no allocation can return.
 */
#ifndef ISIM_LIB_ERR_H
#define ISIM_LIB_ERR_H

#include <stdbool.h>
#include <stdint.h>

#define ISIM_MAX_ERRNO 4095

static inline void *ERR_PTR(long error)
{
	return (void *)(intptr_t)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)(intptr_t)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return (uintptr_t)ptr >= (uintptr_t)-ISIM_MAX_ERRNO;
}

static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return !ptr || IS_ERR(ptr);
}

#endif
