/**
 * A CodeMirror 6 editor as a React component: created once per mount, its document
 * replaced when `value` changes from outside, destroyed on unmount. Tab is left to
 * the browser (focus moves on), so the editor never traps keyboard users; indent with
 * the usual Mod-] / Mod-[.
 */
import { useEffect, useRef, type JSX } from 'react';
import { basicSetup } from 'codemirror';
import { Annotation, Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import { go } from '@codemirror/lang-go';

/** Syntax highlighting the editor knows. */
export type EditorLanguage = 'javascript' | 'typescript' | 'python' | 'go' | 'plain';

/** The highlighting for a file name: js/mjs/cjs/jsx → javascript, ts/mts/tsx → typescript, py → python, go → go, else plain. */
export function languageForPath(path: string): EditorLanguage {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  if (['js', 'mjs', 'cjs', 'jsx'].includes(ext)) return 'javascript';
  if (['ts', 'mts', 'cts', 'tsx'].includes(ext)) return 'typescript';
  if (ext === 'py') return 'python';
  if (ext === 'go') return 'go';
  return 'plain';
}

function languageExtension(language: EditorLanguage): Extension {
  switch (language) {
    case 'javascript':
      return javascript({ jsx: true });
    case 'typescript':
      return javascript({ typescript: true });
    case 'python':
      return python();
    case 'go':
      return go();
    case 'plain':
      return [];
  }
}

/** Props of {@link CodeEditor}. */
export interface CodeEditorProps {
  value: string;
  /** Called with the whole document after each edit by the user (not for `value` changes). */
  onChange?: (value: string) => void;
  language: EditorLanguage;
  /** Accessible name of the editing area, e.g. "Code editor: handler.js". */
  ariaLabel: string;
  readOnly?: boolean;
  /** id of an element describing the editor (help text), set as aria-describedby. */
  describedBy?: string;
}

/** Marks the transactions that mirror `value`, so they are not reported as edits. */
const external = Annotation.define<boolean>();

const theme = EditorView.theme({
  '&': { fontSize: '13px', border: '1px solid var(--deploy-border, #8a8f98)', borderRadius: '4px', backgroundColor: 'var(--deploy-editor-bg, #fff)' },
  '&.cm-focused': { outline: '2px solid var(--deploy-focus, #1a73e8)', outlineOffset: '2px' },
  '.cm-scroller': { minHeight: '14rem', maxHeight: '60vh', fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' },
  '.cm-content': { padding: '6px 0' },
});

function contentAttributes(ariaLabel: string, readOnly: boolean, describedBy?: string): Extension {
  return EditorView.contentAttributes.of({
    'aria-label': ariaLabel,
    ...(readOnly ? { 'aria-readonly': 'true' } : {}),
    ...(describedBy ? { 'aria-describedby': describedBy } : {}),
  });
}

function editable(readOnly: boolean): Extension {
  return [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)];
}

/** The CodeMirror wrapper: line numbers, highlighting by `language`, undo, search, bracket matching (`basicSetup`). */
export function CodeEditor(props: CodeEditorProps): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;
  const compartments = useRef({ language: new Compartment(), attributes: new Compartment(), editable: new Compartment() });

  useEffect(() => {
    const c = compartments.current;
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: props.value,
        extensions: [
          basicSetup,
          theme,
          c.language.of(languageExtension(props.language)),
          c.attributes.of(contentAttributes(props.ariaLabel, props.readOnly === true, props.describedBy)),
          c.editable.of(editable(props.readOnly === true)),
          EditorView.updateListener.of((u) => {
            if (u.docChanged && !u.transactions.some((t) => t.annotation(external))) onChange.current?.(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // Created once: later prop changes are applied by the effects below.
  }, []);

  useEffect(() => {
    const v = view.current;
    if (!v || v.state.doc.toString() === props.value) return;
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: props.value }, annotations: external.of(true) });
  }, [props.value]);

  useEffect(() => {
    view.current?.dispatch({ effects: compartments.current.language.reconfigure(languageExtension(props.language)) });
  }, [props.language]);

  useEffect(() => {
    const c = compartments.current;
    view.current?.dispatch({
      effects: [
        c.attributes.reconfigure(contentAttributes(props.ariaLabel, props.readOnly === true, props.describedBy)),
        c.editable.reconfigure(editable(props.readOnly === true)),
      ],
    });
  }, [props.ariaLabel, props.readOnly, props.describedBy]);

  return <div ref={host} className="code-editor" />;
}
