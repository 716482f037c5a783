# Writes file IN as a C string constant NAME (default `nodec_model_h`) into OUT.
if(NOT NAME)
  set(NAME nodec_model_h)
endif()
file(READ ${IN} text)
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "\\n\"\n\"" text "${text}")
file(WRITE ${OUT} "static const char ${NAME}[] =\n\"${text}\";\n")
