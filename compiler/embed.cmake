# Writes file IN as a C string constant `nodec_model_h` into OUT.
file(READ ${IN} text)
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "\\n\"\n\"" text "${text}")
file(WRITE ${OUT} "static const char nodec_model_h[] =\n\"${text}\";\n")
