from models.names import surname_key


def test_lists_sort_on_the_surname_without_its_prefix():
    names = ["Yılmaz", "de Wit", "van den Berg", "el Amrani", "'t Hart", "Bakker"]

    ordered = sorted(names, key=surname_key)

    assert ordered == [
        "el Amrani",
        "Bakker",
        "van den Berg",
        "'t Hart",
        "de Wit",
        "Yılmaz",
    ]


def test_a_name_of_only_lower_case_words_keeps_its_last_word():
    assert surname_key("de") == "de"
    assert surname_key("van der") == "der"
