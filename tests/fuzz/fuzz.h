/*
 * What the libFuzzer harnesses share: a reader that turns the fuzz input
 * into numbers (running dry yields zeros, so every input decodes to some
 * finite program), the abort-with-a-message that reports a finding, and
 * the invariant check each harness runs after every step.  Harness code
 * may print; the library never does.
 */
#ifndef ISIM_TESTS_FUZZ_H
#define ISIM_TESTS_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iommufd-sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint64_t fuzz_bytes(struct fuzz_in *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return (uint8_t)fuzz_bytes(in, 1);
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)fuzz_bytes(in, 2);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	return (uint32_t)fuzz_bytes(in, 4);
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_bytes(in, 8);
}

/* Fill @buf from the input; what the input lacks stays zero. */
static inline void fuzz_fill(struct fuzz_in *in, void *buf, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(buf, in->p, n);
	memset((uint8_t *)buf + n, 0, len - n);
	in->p += n;
	in->left -= n;
}

/* A disagreement with the model or a broken invariant: a finding. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
fuzz_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static inline void fuzz_check(struct isim_machine *m, const char *after)
{
	char report[2048];

	if (isim_check(m, report, sizeof(report)))
		fuzz_die("isim_check after %s: %s", after, report);
}

#endif
