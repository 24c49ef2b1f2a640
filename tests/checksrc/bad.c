/* SPDX-License-Identifier: Apache-2.0 */
/* checksrc self-test: every call below must be refused, one per line, in
 * the order of the list in tests/checksrc/selftest.sh. Never compiled. */
void bad(char *d, const char *s, char *l, struct x *p)
{
	sprintf(d, "%s", s);
	vsprintf(d, s, ap);
	strcpy(d, s);
	strcat(d, s);
	strncat(d, s, 4);
	strtok(l, ",");
	strtok_r(l, ",", &save);
	gets(d);
	n = atoi(s);
	n = atol(s);
	n = atoll(s);
	system(s);
	f = popen("ls", "r");
	n = (atoi) (s); n = x + atoi (s);
	if (a) strcpy(d, "/*"); /* a literal that looks like a comment ends */
}
