/* SPDX-License-Identifier: Apache-2.0 */
/* checksrc self-test: nothing here may be refused. Never compiled.
 * sprintf(d, s) and strcpy(d, s) in a comment,
 * over lines: system("rm -rf /") */
void good(char *d, size_t n, const char *s, struct x *p)
{
	snprintf(d, n, "sprintf(%s) strcpy(", s); // popen(s, "r") in a line comment
	vsnprintf(d, n, s, ap);
	fgets(d, (int)n, stdin);
	strtoll(s, NULL, 10);
	my_system(s);
	p->system(s);
	p.popen(s);
	p -> atoi (s);
	c = '"'; strcpy_s = 1; /* " sprintf( */
	puts("\"strcat(\"");
	x = sprintf_like;
}
