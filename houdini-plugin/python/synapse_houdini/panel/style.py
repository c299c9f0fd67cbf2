"""The panel's style sheet: dark, close to Houdini's default UI colours."""

STYLE = """
#synapsePanel { background-color: #2b2b2b; color: #dcdcdc; }
#synapsePanel QLabel { color: #dcdcdc; }
#transcript, #transcriptInner { background-color: #252525; border: none; }
#prompt { background-color: #3a4654; border-radius: 6px; padding: 6px 8px; color: #f0f0f0; }
QTextBrowser#assistantText { background-color: #252525; color: #dcdcdc; border: none; padding: 0px; }
#toolCard { background-color: #323232; border: 1px solid #444; border-radius: 5px; }
#cardSummary, #cardTiming, #muted { color: #9aa0a6; }
#cardError, #noteError { color: #ff7b7b; }
#approvalBar { background-color: #2d3a4a; border: 1px solid #4a9eff; border-radius: 4px; }
#jsonView { background-color: #1f2226; color: #d7dae0; font-family: monospace; border: none; }
#turnStatus { color: #9aa0a6; font-style: italic; }
#promptEdit { background-color: #1f1f1f; color: #f0f0f0; border: 1px solid #555; border-radius: 4px; }
QPushButton { background-color: #3c3c3c; color: #e0e0e0; border: 1px solid #555; border-radius: 3px; padding: 3px 10px; }
QPushButton:hover { background-color: #474747; }
QPushButton:disabled { color: #777; border-color: #444; }
QPushButton#sendButton { background-color: #2f5f8f; border-color: #3f7fbf; }
QPushButton#stopButton:enabled { background-color: #8f2f2f; border-color: #bf3f3f; }
QPushButton#allowButton { background-color: #2f6f3f; border-color: #3f8f4f; }
QComboBox { background-color: #3c3c3c; color: #e0e0e0; border: 1px solid #555; padding: 2px 6px; }
QListWidget { background-color: #252525; color: #dcdcdc; border: 1px solid #444; }
"""
