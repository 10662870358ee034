; UNTESTED RECIPE (Inno Setup 6; run by packaging/windows/build_windows.ps1). Installs the
; PyInstaller folder per user (no administrator rights), a Start-menu entry that runs
; "lifelog app", and puts lifelog.exe's folder on the user's PATH. Uninstall removes exactly
; what it installed; the memory in %LOCALAPPDATA%\lifelog is never touched.
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
[Setup]
AppId={{6F0B7F4E-2C1D-4B8A-9E55-1A7C2E0D9B31}
AppName=lifelog
AppVersion={#AppVersion}
AppPublisher=lifelog
DefaultDirName={localappdata}\Programs\lifelog
DefaultGroupName=lifelog
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=lifelog-{#AppVersion}-windows-setup
SetupIconFile=..\..\build\lifelog.ico
Compression=lzma2
SolidCompression=yes
ChangesEnvironment=yes
ArchitecturesInstallIn64BitMode=x64compatible

[Files]
Source: "..\..\dist\lifelog\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\lifelog"; Filename: "{app}\lifelog.exe"; Parameters: "app"; IconFilename: "{app}\lifelog.exe"
Name: "{group}\Uninstall lifelog"; Filename: "{uninstallexe}"

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; \
  ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}'))

[Code]
function NeedsAddPath(Dir: string): Boolean;
var Path: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then begin
    Result := True; exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;
