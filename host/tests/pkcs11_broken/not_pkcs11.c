/* A valid shared library that is not a PKCS#11 library: no C_GetFunctionList. */
int t1c_not_a_token(void) { return 42; }
