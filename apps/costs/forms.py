"""The prices page's three admin forms, one set per cluster: edit the default row, load a CSV
sheet, reset to the defaults. Each needs a reason; prices are checked by prices.py, so the
messages here are the same as for a CSV row."""

from django import forms

from . import prices

MAX_UPLOAD_BYTES = 4 * prices.MAX_CHARS


class _PricesForm(forms.Form):
    cluster = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=2000, label="Reason", widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = self.fields.pop("reason")  # last, after what it explains


def _price(column: str, label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "data-column": column}),
    )


class DefaultPricesForm(_PricesForm):
    base = forms.CharField(widget=forms.HiddenInput, required=False)
    capacity_type = forms.ChoiceField(
        label="Capacity type", choices=[(c.value, c.value) for c in prices.CapacityType]
    )
    cpu_per_vcpu_hour = _price("cpu_per_vcpu_hour", "$ per vCPU-hour")
    memory_per_gib_hour = _price("memory_per_gib_hour", "$ per GiB-hour of memory")
    storage_per_gib_month = _price("storage_per_gib_month", "$ per GiB-month of storage")

    def clean(self) -> dict:
        data = super().clean()
        for column in prices.PRICE_COLUMNS:
            if column in data:
                value = prices.parse_price(column, data[column])
                if isinstance(value, str):
                    self.add_error(column, value)
                else:
                    data[column] = value
        return data

    def as_prices(self) -> prices.Prices:
        return prices.Prices(**{c: self.cleaned_data[c] for c in prices.PRICE_COLUMNS})


class UploadForm(_PricesForm):
    base = forms.CharField(widget=forms.HiddenInput, required=False)
    csv_text = forms.CharField(
        label="Price sheet (CSV)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )
    csv_file = forms.FileField(label="…or a CSV file (used instead of the text)", required=False)

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("csv_file")
        if upload:
            if upload.size > MAX_UPLOAD_BYTES:
                self.add_error("csv_file", f"the file is over {MAX_UPLOAD_BYTES // 1000} kB")
                return data
            try:
                data["csv_text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("csv_file", "the file is not UTF-8 text")
                return data
        if not (data.get("csv_text") or "").strip():
            self.add_error("csv_text", "paste a price sheet or choose a CSV file")
        return data


class ResetForm(_PricesForm):
    pass
