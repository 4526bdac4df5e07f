"""The import form: pasted text or an uploaded file, its format, and whether existing services may change."""

import hashlib

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from clusters.actions.imports import MAX_TEXT

FORMAT_CHOICES = [
    ("auto", "Detect it"),
    ("ipvsadm", "ipvsadm-save -n output"),
    ("keepalived", "keepalived.conf virtual_server blocks"),
]


class ActionErrorsForm(forms.Form):
    """A plain form that feeds an action (import, adopt): the action's field errors show next to their fields,
    the rest at the top."""

    def add_action_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for name, errors in exc.error_dict.items():
            self.add_error(name if name in self.fields and name != NON_FIELD_ERRORS else None, errors)


class ImportForm(ActionErrorsForm):
    """What to import; an uploaded file replaces the pasted text (and is shown in its place afterwards)."""

    text = forms.CharField(
        label="Rules",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono", "wrap": "off"}),
        help_text="Paste the output of <code>ipvsadm-save -n</code>, or the <code>virtual_server</code> blocks of a "
        "keepalived.conf (the rest of the file may stay: it is listed as not imported).",
    )
    file = forms.FileField(
        label="…or upload a file",
        required=False,
        help_text="A rules file (e.g. /etc/ipvsadm.rules) or keepalived.conf, UTF-8 text; it replaces what is pasted.",
    )
    format = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, initial="auto")
    update_existing = forms.BooleanField(
        label="Update existing services",
        required=False,
        help_text="Change services and real servers that are already in this cluster to match the import "
        "(scheduler, persistence, weights …). Without it they are reported as conflicts. Nothing is ever deleted.",
    )
    previewed = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        # Browsers send a text box's lines ending in CRLF; a file may have LF: the same rules either way.
        data["text"] = (data.get("text") or "").replace("\r\n", "\n")
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_TEXT:
                raise ValidationError(
                    {"file": f"The file has {upload.size:,} bytes; an import reads up to {MAX_TEXT:,}."}
                )
            try:
                data["text"] = upload.read().decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError:
                raise ValidationError({"file": "The file is not UTF-8 text."}) from None
            # Show the file's content in the text box, so that the commit sends what was previewed.
            self.data = self.data.copy()
            self.data[self.add_prefix("text")] = data["text"]
        if not (data.get("text") or "").strip():
            raise ValidationError(
                {"text": "Paste ipvsadm-save text or keepalived.conf virtual_server blocks, or upload a file."}
            )
        return data

    def digest(self) -> str:
        """A fingerprint of what a preview showed: the commit must carry the same one."""
        data = self.cleaned_data
        material = f"{data['format']}\n{bool(data.get('update_existing'))}\n{data['text']}"
        return hashlib.sha256(material.encode()).hexdigest()
