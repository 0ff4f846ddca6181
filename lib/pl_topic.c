/* pl_topic.c: validate topic paths and match subscriptions to topics */
#include "pl_first.h"

#include <string.h>

#include "pl_topic.h"
#include "pl_util.h"

static int seg_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '~' || c == '-';
}

int pl_topic_sub_valid(const char *s, size_t n)
{
	if (n == 1 && s[0] == '/')
		return PL_OK;
	return pl_topic_valid(s, n);
}

int pl_topic_valid(const char *s, size_t n)
{
	size_t i = 0, segs = 0;

	if (n < 2 || n > PL_TOPIC_MAX || s[0] != '/')
		return PL_EINVAL;
	while (i < n) {
		size_t start = ++i;        /* skip the '/' */

		while (i < n && s[i] != '/') {
			if (!seg_char((unsigned char)s[i]))
				return PL_EINVAL;
			i++;
		}
		size_t len = i - start;
		if (len == 0 || ++segs > PL_TOPIC_SEGMENTS)
			return PL_EINVAL;
		if ((len == 1 && s[start] == '.') || (len == 2 && s[start] == '.' && s[start + 1] == '.'))
			return PL_EINVAL;
	}
	return PL_OK;
}

int pl_topic_under(const char *topic, const char *sub)
{
	size_t n = strlen(sub);

	if (n == 1 && sub[0] == '/')
		return topic[0] == '/';
	return strncmp(topic, sub, n) == 0 && (topic[n] == '\0' || topic[n] == '/');
}

size_t pl_topic_ancestors(const char *topic, size_t *lens)
{
	size_t k = 0;

	lens[k++] = 1;
	for (size_t i = 1; topic[i] && k <= PL_TOPIC_SEGMENTS; i++)
		if (topic[i + 1] == '/' || topic[i + 1] == '\0')
			lens[k++] = i + 1;
	return k;
}
