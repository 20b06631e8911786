//! Libraries that hang, crash or are not PKCS#11 libraries at all.
