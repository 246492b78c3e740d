"""The agreement both sides own (SPEC section 9): its canonical document and its versions."""
