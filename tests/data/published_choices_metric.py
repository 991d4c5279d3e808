# Label Studio's documentation, "How to write your custom agreement metric": first example.
# Test data: read as text by the tests, never imported.
def agreement(annotation_1, annotation_2, per_label=False) -> float:

    # Retrieve two annotations in the Label Studio JSON format
    r1 = annotation_1["result"][0]["value"]["choices"][0]
    r2 = annotation_2["result"][0]["value"]["choices"][0]

    # Determine annotation agreement based on specific choice values
    if r1 == r2:
        if r1 == "Positive":
            return 0.99
        if r1 == "Negative":
            return 0.7
    else:
        return 0
