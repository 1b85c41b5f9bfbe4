"""The versioned coding prompts every registered model answers for stylometry."""

from __future__ import annotations

from ..methods.text.sample import SamplingPlan

CODE_PROMPT_SET = "llm-lineage-code/1"

_TASKS = [
    ("fibonacci", "n", "Return the n-th Fibonacci number."),
    ("is_prime", "n", "Return True when n is a prime number."),
    ("reverse_words", "text", "Reverse the order of the words in text."),
    ("count_vowels", "text", "Count the vowels in text."),
    ("flatten", "items", "Flatten a list of lists into one list."),
    ("merge_sorted", "a, b", "Merge two sorted lists into one sorted list."),
    ("read_csv_column", "path, column", "Read a CSV file and return one column as a list."),
    ("word_frequencies", "text", "Return a dict mapping each word to how often it occurs."),
    ("binary_search", "items, target", "Return the index of target in the sorted list items, or -1."),
    ("celsius_to_fahrenheit", "degrees", "Convert a temperature from Celsius to Fahrenheit."),
    ("chunk", "items, size", "Split items into lists of at most size elements."),
    ("is_palindrome", "text", "Return True when text reads the same backwards."),
    ("gcd", "a, b", "Return the greatest common divisor of a and b."),
    ("median", "values", "Return the median of a list of numbers."),
    ("unique_sorted", "items", "Return the distinct items in sorted order."),
    ("parse_key_values", "line", "Parse 'a=1;b=2' into a dict."),
    ("matrix_transpose", "rows", "Transpose a matrix given as a list of rows."),
    ("moving_average", "values, window", "Return the moving averages of values over a window."),
    ("capitalize_sentences", "text", "Capitalize the first letter of every sentence."),
    ("factorial", "n", "Return n factorial."),
    ("dedupe_emails", "emails", "Remove duplicate e-mail addresses, ignoring case."),
    ("roman_numeral", "n", "Convert an integer to a Roman numeral."),
    ("count_lines", "path", "Count the non-empty lines of a text file."),
    ("rotate_list", "items, k", "Rotate a list k places to the right."),
    ("snake_to_camel", "name", "Convert snake_case to camelCase."),
    ("find_max_index", "values", "Return the index of the largest value."),
    ("group_by_length", "words", "Group words by their length in a dict."),
    ("safe_divide", "a, b", "Divide a by b, returning None when b is zero."),
    ("run_length_encode", "text", "Run-length encode a string."),
    ("sum_of_digits", "n", "Return the sum of the digits of n."),
    ("to_binary", "n", "Return the binary representation of n as a string."),
    ("title_case", "text", "Convert text to title case."),
    ("second_largest", "values", "Return the second largest distinct value."),
    ("count_words_in_file", "path", "Count the words in a text file."),
    ("interleave", "a, b", "Interleave two lists."),
    ("histogram", "values", "Print a text histogram of the values."),
    ("validate_password", "password", "Check that a password has 8+ characters and a digit."),
    ("anagrams", "a, b", "Return True when a and b are anagrams."),
    ("clamp", "value, low, high", "Clamp value between low and high."),
    ("leap_year", "year", "Return True when year is a leap year."),
]
CODE_PROMPTS: tuple[str, ...] = tuple(f'def {name}({args}):\n    """{doc}"""\n' for name, args, doc in _TASKS)


def code_plan(*, n_prompts: int = len(CODE_PROMPTS), samples_per_prompt: int = 4, temperature: float = 0.8,
              max_tokens: int = 64, api: str = "completions") -> SamplingPlan:
    """Each of the first ``n_prompts`` coding prompts, ``samples_per_prompt`` times (distinct seeds)."""
    return SamplingPlan(CODE_PROMPTS[:n_prompts], (float(temperature),) * samples_per_prompt, max_tokens, seed=0,
                        api=api, name=CODE_PROMPT_SET)
