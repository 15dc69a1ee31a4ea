/*
 * Values in scenario lines: a small recursive-descent evaluator over one
 * token.  Terms are numbers (decimal or 0x hex, with an optional K, M, G
 * or T binary suffix), $VARIABLES, PAGE_SIZE and constant names (a
 * field's own short names such as FIXED_IOVA, or any full uAPI name);
 * they combine with | (lowest), + and -, then * and /, and parentheses;
 * ~ complements.  Blanks between terms are allowed where a line keeps
 * them (expect), not inside a key=value word.
 * Arithmetic is on 64 bits and wraps, so a scenario can build overflowing
 * arguments on purpose.  The same code checks a line at parse time, when
 * variables have no values yet.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "sim/cli/cli.h"

struct expr {
	const char *s;
	const char *p;
	const struct cli_expr_env *env;
	struct cli_diag *d;
	bool failed;
};

static void fail(struct expr *e, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct expr *e, const char *at, const char *fmt, ...)
{
	va_list ap;

	if (e->failed)
		return;
	e->failed = true;
	e->d->col = (unsigned)(at - e->s);
	va_start(ap, fmt);
	vsnprintf(e->d->msg, sizeof(e->d->msg), fmt, ap);
	va_end(ap);
}

static bool is_ident(int c)
{
	return isalnum(c) || c == '_';
}

static uint64_t or_expr(struct expr *e);

static uint64_t number(struct expr *e)
{
	const char *start = e->p;
	uint64_t v = 0;
	unsigned base = 10;

	if (e->p[0] == '0' && (e->p[1] == 'x' || e->p[1] == 'X')) {
		base = 16;
		e->p += 2;
		if (!isxdigit((unsigned char)*e->p)) {
			fail(e, e->p, "expected hex digits after 0x");
			return 0;
		}
	}
	while (base == 16 ? isxdigit((unsigned char)*e->p) :
			    isdigit((unsigned char)*e->p)) {
		int c = tolower((unsigned char)*e->p++);

		v = v * base + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
	}
	switch (*e->p) {
	case 'K': case 'k': v <<= 10; e->p++; break;
	case 'M': case 'm': v <<= 20; e->p++; break;
	case 'G': case 'g': v <<= 30; e->p++; break;
	case 'T': case 't': v <<= 40; e->p++; break;
	default: break;
	}
	if (is_ident((unsigned char)*e->p))
		fail(e, start, "malformed number '%.*s'", (int)(e->p - start + 1),
		     start);
	return v;
}

static uint64_t variable(struct expr *e)
{
	const char *start = ++e->p;
	char name[64];
	uint64_t v = 0;

	while (is_ident((unsigned char)*e->p))
		e->p++;
	if (e->p == start || (size_t)(e->p - start) >= sizeof(name)) {
		fail(e, start - 1, "expected a variable name after '$'");
		return 0;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(e->p - start), start);
	if (!e->env->var) {
		if (e->env->var_known && !e->env->var_known(e->env->arg, name))
			fail(e, start - 1, "no variable $%s is set before this line",
			     name);
		return 0;
	}
	if (!e->env->var(e->env->arg, name, &v))
		fail(e, start - 1, "variable $%s has no value (the line that sets it did not run)",
		     name);
	return v;
}

static uint64_t constant(struct expr *e)
{
	const char *start = e->p;
	struct cli_suggest sg;
	char name[80], hint[160];
	uint64_t v = 0;

	while (is_ident((unsigned char)*e->p))
		e->p++;
	if ((size_t)(e->p - start) == 9 && !strncmp(start, "PAGE_SIZE", 9))
		return e->env->page_size;
	if (cli_const_find(start, (size_t)(e->p - start), e->env->syms, &v))
		return v;
	snprintf(name, sizeof(name), "%.*s", (int)(e->p - start), start);
	cli_suggest_init(&sg, name);
	cli_const_suggest(&sg, e->env->syms);
	fail(e, start, "unknown name '%s'%s", name,
	     cli_suggest_text(&sg, hint, sizeof(hint)));
	return 0;
}

static void blanks(struct expr *e)
{
	while (*e->p == ' ' || *e->p == '\t')
		e->p++;
}

static uint64_t atom(struct expr *e)
{
	unsigned char c;
	uint64_t v;

	blanks(e);
	c = (unsigned char)*e->p;

	if (c == '(') {
		e->p++;
		v = or_expr(e);
		blanks(e);
		if (*e->p != ')') {
			fail(e, e->p, "expected ')'");
			return 0;
		}
		e->p++;
		return v;
	}
	if (c == '~') {
		e->p++;
		return ~atom(e);
	}
	if (isdigit(c))
		return number(e);
	if (c == '$')
		return variable(e);
	if (isalpha(c) || c == '_')
		return constant(e);
	if (!c)
		fail(e, e->p, "expected a value at the end");
	else
		fail(e, e->p, "unexpected '%c': expected a number, $VAR or a name",
		     c);
	return 0;
}

static uint64_t mul_expr(struct expr *e)
{
	uint64_t v = atom(e);

	blanks(e);
	while (!e->failed && (*e->p == '*' || *e->p == '/')) {
		const char *op = e->p++;
		uint64_t r = atom(e);

		if (*op == '*') {
			v *= r;
		} else if (!r) {
			fail(e, op, "division by zero");
		} else {
			v /= r;
		}
		blanks(e);
	}
	return v;
}

static uint64_t add_expr(struct expr *e)
{
	uint64_t v = mul_expr(e);

	while (!e->failed && (*e->p == '+' || *e->p == '-')) {
		char op = *e->p++;
		uint64_t r = mul_expr(e);

		v = op == '+' ? v + r : v - r;
		blanks(e);
	}
	return v;
}

static uint64_t or_expr(struct expr *e)
{
	uint64_t v = add_expr(e);

	blanks(e);
	while (!e->failed && *e->p == '|') {
		e->p++;
		v |= add_expr(e);
		blanks(e);
	}
	return v;
}

int cli_expr_eval(const char *s, const struct cli_expr_env *env,
		  uint64_t *out, struct cli_diag *d)
{
	struct expr e = { .s = s, .p = s, .env = env, .d = d };
	uint64_t v = or_expr(&e);

	if (!e.failed && *e.p)
		fail(&e, e.p, "unexpected '%c' after a complete value", *e.p);
	if (e.failed)
		return -1;
	*out = v;
	return 0;
}
