"""vertebra: cited clinical decision support for osteoporotic vertebral compression fractures."""
