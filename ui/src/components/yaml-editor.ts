// The YAML editor (CodeMirror 6) with the server's validation errors shown on their lines.
import { yaml } from "@codemirror/lang-yaml";
import { type Diagnostic, lintGutter, setDiagnostics } from "@codemirror/lint";
import { basicSetup, EditorView } from "codemirror";

export interface LineError {
  line: number; // 1-based
  message: string;
}

export class YamlEditor {
  readonly view: EditorView;

  constructor(parent: HTMLElement, text: string) {
    this.view = new EditorView({ doc: text, extensions: [basicSetup, yaml(), lintGutter()], parent });
  }

  get text(): string {
    return this.view.state.doc.toString();
  }

  set text(value: string) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: value } });
  }

  /** Marks each error on its line (gutter, underline, hover); none clears them. */
  showErrors(errors: LineError[]): void {
    const doc = this.view.state.doc;
    const diagnostics: Diagnostic[] = errors.map((e) => {
      const line = doc.line(Math.min(Math.max(e.line, 1), doc.lines));
      return { from: line.from, to: line.to, severity: "error", message: e.message };
    });
    this.view.dispatch(setDiagnostics(this.view.state, diagnostics));
  }

  goTo(lineNumber: number): void {
    const line = this.view.state.doc.line(Math.min(Math.max(lineNumber, 1), this.view.state.doc.lines));
    this.view.dispatch({ selection: { anchor: line.from }, effects: EditorView.scrollIntoView(line.from, { y: "center" }) });
    this.view.focus();
  }
}
